-- Languages (issue #21): whether the user chose the language and the zone, recorded apart. 0550's single
-- locale_chosen_at made choosing a language also pin the zone to users.timezone (default 'UTC'), so a
-- technician who switched to English lost their own zone.
ALTER TABLE users ADD COLUMN language_chosen_at timestamptz,
                  ADD COLUMN timezone_chosen_at timestamptz;
UPDATE users SET language_chosen_at = locale_chosen_at WHERE locale_chosen_at IS NOT NULL;
ALTER TABLE users DROP COLUMN locale_chosen_at;

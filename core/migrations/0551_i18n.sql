-- Languages (issue #21): which language a person chose, and notifications stored as a catalogue message.
-- (0551, not 0550: an early draft numbered 0550 reached a shared development database; IF NOT EXISTS because of it.)
--
-- users.language / users.timezone (0800) have defaults, so a stored 'en' cannot tell "chose English" from
-- "never chose". language_chosen_at / timezone_chosen_at are set when the user picks one themselves; until
-- then a customer's or technician's account follows its customer's or technician's record, and staff follow
-- the browser (api /api/auth/me resolves this; i18n.resolve_locale).
ALTER TABLE users ADD COLUMN IF NOT EXISTS language_chosen_at timestamptz,
                  ADD COLUMN IF NOT EXISTS timezone_chosen_at timestamptz;

-- A notification's human text as a message key and its parameters (i18n/catalogues): the sender renders it
-- in the customer's language and zone at send time. subject/body stay as written (English) for rows without
-- one and for readers of the outbox that do not translate.
ALTER TABLE notifications ADD COLUMN IF NOT EXISTS message jsonb;

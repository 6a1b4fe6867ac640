-- Languages (issue #21): which language a person chose, and notifications stored as a catalogue message.
--
-- users.language / users.timezone (0800) have defaults, so a stored 'en' cannot tell "chose English" from
-- "never chose". locale_chosen_at is set when the user picks a language or zone themselves; until then a
-- customer's or technician's account follows its customer's or technician's record, and staff follow the
-- browser (api /api/auth/me resolves this; i18n.resolve_locale).
ALTER TABLE users ADD COLUMN locale_chosen_at timestamptz;

-- A notification's human text as a message key and its parameters (i18n/catalogues): the sender renders it
-- in the customer's language and zone at send time. subject/body stay as written (English) for rows without
-- one and for readers of the outbox that do not translate.
ALTER TABLE notifications ADD COLUMN message jsonb;

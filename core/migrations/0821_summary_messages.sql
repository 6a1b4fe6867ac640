-- Incident and timeline summaries in the reader's language (as notifications since 0550): new rows carry their
-- human text as a catalogue message, {"key": ..., "params": {...}} (i18n/catalogues; a parameter may itself be
-- a message, e.g. a fault's name), and pages render it in the viewer's language and zone. summary stays as
-- written (English, UTC) for rows from before and for readers that do not translate; NULL message = show summary.
ALTER TABLE timeline_events ADD COLUMN message jsonb;
ALTER TABLE incidents ADD COLUMN summary_message jsonb;

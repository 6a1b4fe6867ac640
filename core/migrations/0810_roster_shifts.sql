-- Approved roster shifts (planning/roster.py): the forecast's roster proposal, approved by a dispatcher, names
-- technicians per region and shift of an operational day. Dispatch plans a technician with an approved shift
-- covering (or next after) the moment it plans for in place of their weekly pattern (dispatch/queries.sql
-- field_technicians). One shift per technician per operational day; re-approving a day replaces its shifts.
CREATE TABLE roster_shifts (
    id            bigint GENERATED ALWAYS AS IDENTITY CONSTRAINT roster_shifts_pk PRIMARY KEY,
    technician_id bigint NOT NULL CONSTRAINT roster_shifts_technician_fk REFERENCES technicians (id)
                  ON DELETE CASCADE,
    roster_day    date NOT NULL,
    region        text NOT NULL,
    shift         text NOT NULL,
    starts_at     timestamptz NOT NULL,
    ends_at       timestamptz NOT NULL,
    approved_by   text NOT NULL,
    approved_at   timestamptz NOT NULL,
    CONSTRAINT roster_shifts_span_ck CHECK (ends_at > starts_at),
    CONSTRAINT roster_shifts_one_per_day_uq UNIQUE (technician_id, roster_day)
);
CREATE INDEX roster_shifts_technician_ix ON roster_shifts (technician_id, ends_at);
CREATE INDEX roster_shifts_day_ix ON roster_shifts (roster_day);

-- An approved shift changes who dispatch can send: the loop re-plans at once (change counter, migration 0300).
CREATE TRIGGER roster_shifts_dispatch_trg AFTER INSERT OR UPDATE OR DELETE ON roster_shifts
    FOR EACH STATEMENT EXECUTE FUNCTION dispatch_bump_cursor();

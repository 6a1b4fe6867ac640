-- Live updates without polling (issue #17 item 4): writes to the tables the live cursor watches
-- (api/queries.sql change_cursor) NOTIFY channel quietfix_live, in the writer's transaction, so the API's one
-- LISTEN connection per process wakes its feeds when the change commits (and never for a rolled-back write).
-- The payload is the table's name: small, and identical payloads within one transaction fold into one message,
-- so a bulk insert costs one notification, not one per row. The feeds still re-read the cursor (scoped per
-- viewer) and send an event only when it moved; a spurious wake-up costs one index-only query per open scope.
CREATE FUNCTION live_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('quietfix_live', TG_TABLE_NAME);
    RETURN NULL;
END
$$;

-- The cursor reads maxima of these ids: only new (or deleted) rows move it, not updates.
CREATE TRIGGER timeline_events_live_trg AFTER INSERT OR DELETE ON timeline_events
    FOR EACH STATEMENT EXECUTE FUNCTION live_notify();
CREATE TRIGGER incidents_live_trg AFTER INSERT OR DELETE ON incidents
    FOR EACH STATEMENT EXECUTE FUNCTION live_notify();
CREATE TRIGGER work_orders_live_trg AFTER INSERT OR DELETE ON work_orders
    FOR EACH STATEMENT EXECUTE FUNCTION live_notify();
CREATE TRIGGER nps_surveys_live_trg AFTER INSERT OR DELETE ON nps_surveys
    FOR EACH STATEMENT EXECUTE FUNCTION live_notify();

-- The cursor checksums technicians' state and position: a row trigger whose WHEN skips updates that change
-- neither (shift bookkeeping, skills), so a busy table does not wake every feed for nothing.
CREATE TRIGGER technicians_live_ins_trg AFTER INSERT OR DELETE ON technicians
    FOR EACH STATEMENT EXECUTE FUNCTION live_notify();
CREATE TRIGGER technicians_live_upd_trg AFTER UPDATE ON technicians
    FOR EACH ROW WHEN ((OLD.state, OLD.lat, OLD.lon) IS DISTINCT FROM (NEW.state, NEW.lat, NEW.lon))
    EXECUTE FUNCTION live_notify();

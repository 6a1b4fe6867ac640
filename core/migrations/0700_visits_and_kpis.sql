-- Return visits and the timestamps the KPIs are computed from (issue #14 items 3-4; block 0700-0729).
--
-- A first visit can fail (wrong part, wrong diagnosis): the incident stays open and gets a return visit, i.e. a
-- new work order on the same incident. So "one work order per incident" becomes "one *live* work order per
-- incident"; completed and cancelled visits stay beside it as history.
DROP INDEX work_orders_incident_uq;
CREATE UNIQUE INDEX work_orders_incident_live_uq ON work_orders (incident_id)
    WHERE status IN ('open', 'assigned', 'en_route', 'on_site');
CREATE INDEX work_orders_incident_ix ON work_orders (incident_id);

ALTER TABLE work_orders
    -- 1 for the first visit on an incident, 2 for the first return visit, ...
    ADD COLUMN visit_no smallint NOT NULL DEFAULT 1 CONSTRAINT work_orders_visit_no_ck CHECK (visit_no >= 1),
    -- How the visit ended: fixed, or not fixed and why (NULL while it runs; legacy completions are fixes).
    ADD COLUMN outcome text CONSTRAINT work_orders_outcome_ck
        CHECK (outcome IN ('fixed', 'wrong_part', 'wrong_diagnosis', 'not_fixed')),
    -- When the technician set off towards the site (the phone's "on my way", or the field simulation): the job
    -- stops waiting then, and the technician is busy from then until completed_at (idle-while-waiting, docs/kpis.md).
    ADD COLUMN departed_at timestamptz;
CREATE INDEX work_orders_departed_ix ON work_orders (technician_id, departed_at);
CREATE INDEX notification_deliveries_sent_ix ON notification_deliveries (notification_id, sent_at);
CREATE INDEX notifications_incident_ix ON notifications (incident_id) WHERE incident_id IS NOT NULL;

-- Planning gaps (block 0610-0619): preventive visits as work orders, coverage hours for the diagnose loop.

-- A preventive visit (contract inspection, repair suggested by a remaining-useful-life estimate) is a work order
-- with a window of days instead of the 2-hour promise: dispatch gives it a hard service-start window
-- [earliest_start, latest_start] and the lowest drop weight, so emergencies always win. onsite_due is set to
-- latest_start (the column is NOT NULL and read by every SLA view). preventive_key names the due item it was
-- created for (inspection: contract, asset and due date; RUL: asset and fault mode), so the planning job that
-- creates them can run any number of times.
ALTER TABLE work_orders
    ADD COLUMN kind text NOT NULL DEFAULT 'corrective'
        CONSTRAINT work_orders_kind_ck CHECK (kind IN ('corrective', 'preventive')),
    ADD COLUMN earliest_start timestamptz,
    ADD COLUMN latest_start timestamptz,
    ADD COLUMN preventive_key text,
    ADD CONSTRAINT work_orders_window_ck CHECK (
        (kind = 'corrective' AND earliest_start IS NULL AND latest_start IS NULL)
        OR (kind = 'preventive' AND earliest_start IS NOT NULL AND latest_start >= earliest_start
            AND preventive_key IS NOT NULL));
-- One live-or-done work order per due item; a cancelled one may be recreated.
CREATE UNIQUE INDEX work_orders_preventive_uq ON work_orders (preventive_key) WHERE status <> 'cancelled';

-- Every work order hangs off an incident (phone card, board, completion flow all join it): a preventive visit's
-- incident has source 'planning' (SLA and forecast views leave these out) and fault mode 'inspection' or
-- 'preventive:<predicted mode>' (never the detector's own mode, whose open-incident uniqueness it would block).
ALTER TABLE incidents DROP CONSTRAINT incidents_source_ck;
ALTER TABLE incidents ADD CONSTRAINT incidents_source_ck
    CHECK (source IN ('telemetry', 'phone', 'email', 'portal', 'planning'));

-- The covering contract's coverage hours for the diagnose loop: an incident opened out of hours starts its SLA
-- clocks when coverage next opens (columns appended: CREATE OR REPLACE VIEW keeps the existing ones first).
CREATE OR REPLACE VIEW device_contracts AS
SELECT DISTINCT ON (d.id) d.id AS device_id, k.id AS contract_id, k.code, k.sla_tier,
       k.coverage_days, k.coverage_start, k.coverage_end, k.name, k.warranty_until
FROM devices d
JOIN contracts k ON k.customer_id = d.customer_id AND (k.device_id IS NULL OR k.device_id = d.id)
WHERE k.starts_on <= current_date AND (k.ends_on IS NULL OR k.ends_on >= current_date)
ORDER BY d.id, (k.device_id IS NULL), k.starts_on DESC, k.id DESC;

-- Service targets beside contract deadlines on every corrective job (issue #14; dispatch block 0641-0649,
-- after 0640 and the contracts of 0600).
-- *_due are the contract's deadlines (contract row, else sla_tier_defaults; clocks start when coverage opens);
-- *_target are the organisation's service targets (settings `service.*`, else the contract's target_* override),
-- counted from the incident's opening whatever the coverage hours: the promise is kept 365 days a year.
-- NULL: a row written before this migration, or a preventive visit (which carries no promise).
ALTER TABLE incidents
    ADD COLUMN IF NOT EXISTS response_target timestamptz,
    ADD COLUMN IF NOT EXISTS onsite_target   timestamptz,
    ADD COLUMN IF NOT EXISTS repair_target   timestamptz;
ALTER TABLE work_orders ADD COLUMN IF NOT EXISTS onsite_target timestamptz;

-- The covering contract's own deadlines and target overrides for the diagnose loop (columns appended: CREATE OR
-- REPLACE VIEW keeps the existing ones first).
CREATE OR REPLACE VIEW device_contracts AS
SELECT DISTINCT ON (d.id) d.id AS device_id, k.id AS contract_id, k.code, k.sla_tier,
       k.coverage_days, k.coverage_start, k.coverage_end, k.name, k.warranty_until,
       k.response_min, k.onsite_min, k.repair_h, k.target_response_min, k.target_onsite_min, k.target_repair_h
FROM devices d
JOIN contracts k ON k.customer_id = d.customer_id AND (k.device_id IS NULL OR k.device_id = d.id)
WHERE k.starts_on <= current_date AND (k.ends_on IS NULL OR k.ends_on >= current_date)
ORDER BY d.id, (k.device_id IS NULL), k.starts_on DESC, k.id DESC;

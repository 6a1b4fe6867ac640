-- Planning: service contracts and their entitlements, escalation tiers.
-- A contract covers either every asset of a customer (device_id NULL) or one asset (warranty, add-on cover);
-- the asset-level contract wins. Entitlements (SLA clocks, what is billable) are computed by planning/ from the
-- covering contract; the diagnose loop reads only the SLA tier through the device_contracts view.

CREATE TABLE contracts (
    id                       bigint GENERATED ALWAYS AS IDENTITY CONSTRAINT contracts_pk PRIMARY KEY,
    code                     text NOT NULL CONSTRAINT contracts_code_uq UNIQUE,
    customer_id              bigint NOT NULL CONSTRAINT contracts_customer_fk REFERENCES customers (id) ON DELETE CASCADE,
    device_id                text CONSTRAINT contracts_device_fk REFERENCES devices (id) ON DELETE CASCADE,
    name                     text NOT NULL,
    sla_tier                 text NOT NULL
                             CONSTRAINT contracts_sla_tier_ck CHECK (sla_tier IN ('key', 'gold', 'standard', 'bronze')),
    -- Coverage hours: ISO weekdays (1 = Monday) and a daily window in the dispatch time zone; 00:00-24:00 all
    -- week is 24x7. An incident opened outside the window starts its SLA clocks when the window next opens.
    coverage_days            smallint[] NOT NULL DEFAULT '{1,2,3,4,5,6,7}',
    coverage_start           time NOT NULL DEFAULT '00:00',
    coverage_end             time NOT NULL DEFAULT '24:00',
    starts_on                date NOT NULL,
    ends_on                  date,
    warranty_until           date,
    labour_included          boolean NOT NULL DEFAULT true,
    parts_included           boolean NOT NULL DEFAULT false,
    included_parts           text[] NOT NULL DEFAULT '{}',
    inspection_interval_days integer CONSTRAINT contracts_inspection_ck CHECK (inspection_interval_days > 0),
    last_inspection_on       date,
    CONSTRAINT contracts_dates_ck CHECK (ends_on IS NULL OR ends_on >= starts_on),
    CONSTRAINT contracts_coverage_ck CHECK (coverage_end > coverage_start)
);
CREATE INDEX contracts_customer_ix ON contracts (customer_id);
CREATE INDEX contracts_device_ix ON contracts (device_id) WHERE device_id IS NOT NULL;

-- The contract covering each asset today: asset-level before customer-wide, then the most recent start.
-- Used by the diagnose loop's device context (SLA tier); planning/ picks by the incident's own time.
CREATE VIEW device_contracts AS
SELECT DISTINCT ON (d.id) d.id AS device_id, k.id AS contract_id, k.code, k.sla_tier
FROM devices d
JOIN contracts k ON k.customer_id = d.customer_id AND (k.device_id IS NULL OR k.device_id = d.id)
WHERE k.starts_on <= current_date AND (k.ends_on IS NULL OR k.ends_on >= current_date)
ORDER BY d.id, (k.device_id IS NULL), k.starts_on DESC, k.id DESC;

-- Escalation of a job beyond the field technician: tier 2 remote technical support, tier 3 engineering.
-- Each row is one hand-over to one tier with its own response clock; escalating again opens a new row.
CREATE TABLE escalations (
    id             bigint GENERATED ALWAYS AS IDENTITY CONSTRAINT escalations_pk PRIMARY KEY,
    work_order_id  bigint NOT NULL CONSTRAINT escalations_work_order_fk REFERENCES work_orders (id),
    incident_id    bigint NOT NULL CONSTRAINT escalations_incident_fk REFERENCES incidents (id),
    device_id      text NOT NULL CONSTRAINT escalations_device_fk REFERENCES devices (id),
    tier           smallint NOT NULL CONSTRAINT escalations_tier_ck CHECK (tier IN (2, 3)),
    status         text NOT NULL DEFAULT 'open'
                   CONSTRAINT escalations_status_ck CHECK (status IN ('open', 'acknowledged', 'resolved', 'escalated')),
    raised_by      text NOT NULL,
    reason         text NOT NULL,
    evidence       jsonb NOT NULL DEFAULT '{}',
    opened_at      timestamptz NOT NULL,
    respond_due    timestamptz NOT NULL,
    acknowledged_at timestamptz,
    resolved_at    timestamptz,
    resolution     text,
    cause          text,
    fix            text,
    parent_id      bigint CONSTRAINT escalations_parent_fk REFERENCES escalations (id)
);
CREATE INDEX escalations_queue_ix ON escalations (tier, opened_at) WHERE status IN ('open', 'acknowledged');
CREATE INDEX escalations_work_order_ix ON escalations (work_order_id);

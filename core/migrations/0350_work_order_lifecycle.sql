-- The work-order lifecycle as it really goes, dispatcher's side (issue #15 item 3; block 0350-0359):
-- cancel with a reason, reschedule to a window the customer chose, put on hold / awaiting parts with the SLA
-- clock paused where the contract says so (docs/dispatch.md "Cancel, reschedule, hold"; docs/kpis.md).

-- 'on_hold': the job waits for something outside dispatch (a part, the customer); the optimiser leaves it out
-- (it plans open/assigned/en_route/on_site only) until it is resumed, which puts it back in the queue as 'open'.
ALTER TABLE work_orders DROP CONSTRAINT work_orders_status_ck;
ALTER TABLE work_orders ADD CONSTRAINT work_orders_status_ck
    CHECK (status IN ('open', 'assigned', 'en_route', 'on_site', 'on_hold', 'completed', 'cancelled'));
-- A held job is still the incident's live visit: no second one may be opened beside it (diagnostics, a return
-- visit or a re-queue). A unique index of its own rather than a change to the live index of 0700: this block
-- runs before 0600-0800 on a fresh database. Every ON CONFLICT naming the four running statuses infers this index
-- too (their predicate implies this one's), so they do nothing while the job is held.
CREATE UNIQUE INDEX work_orders_incident_held_uq ON work_orders (incident_id)
    WHERE status IN ('open', 'assigned', 'en_route', 'on_site', 'on_hold');

-- The window the customer chose for a corrective job (a reschedule): the optimiser starts the service inside it
-- (a hard window, as a preventive visit's earliest/latest start of 0610, which stay preventive-only). NULL: none.
ALTER TABLE work_orders
    ADD COLUMN appointment_start timestamptz,
    ADD COLUMN appointment_end timestamptz,
    ADD CONSTRAINT work_orders_appointment_ck CHECK (
        (appointment_start IS NULL AND appointment_end IS NULL)
        OR (appointment_start IS NOT NULL AND appointment_end >= appointment_start));

-- Why a job was cancelled: a list (data, not code) with the incident's fate per reason. closes_incident: the
-- incident is closed with the visit (the customer withdrew, a duplicate); otherwise it stays open and a fresh
-- work order goes back to the queue.
CREATE TABLE work_order_cancel_reasons (
    code            text CONSTRAINT work_order_cancel_reasons_pk PRIMARY KEY,
    label           text NOT NULL,
    closes_incident boolean NOT NULL,
    sort            smallint NOT NULL DEFAULT 0
);
INSERT INTO work_order_cancel_reasons (code, label, closes_incident, sort) VALUES
    ('customer_withdrew', 'Customer withdrew the request', true, 10),
    ('duplicate', 'Duplicate of another incident', true, 20),
    ('fixed_without_visit', 'Fixed without a visit (customer or remote)', true, 30),
    ('wrong_details', 'Wrong job details (skills, site, asset): plan it again', false, 40),
    ('technician_unavailable', 'Technician unavailable: plan it again', false, 50),
    ('other', 'Other (see note): plan it again', false, 90);
ALTER TABLE work_orders
    ADD COLUMN cancel_reason text CONSTRAINT work_orders_cancel_reason_fk REFERENCES work_order_cancel_reasons (code),
    ADD COLUMN cancel_note text,
    ADD COLUMN cancelled_at timestamptz;

-- Whether a pause stops the SLA clocks (on site, repaired), as data: a tier's default (contract_code NULL) and a
-- contract's own rule (contract_code set; it wins). Kinds: on_hold (the customer asked to wait / no access),
-- awaiting_parts (the organisation waits for a part), customer_window (the customer chose a later window).
-- contract_code names contracts.code without a foreign key: contracts (0600) is created after this block on a
-- fresh database; a rule naming no contract simply never applies.
CREATE TABLE sla_pause_rules (
    id            bigint GENERATED ALWAYS AS IDENTITY CONSTRAINT sla_pause_rules_pk PRIMARY KEY,
    tier          text CONSTRAINT sla_pause_rules_tier_ck CHECK (tier IN ('key', 'gold', 'standard', 'bronze')),
    contract_code text,
    kind          text NOT NULL
                  CONSTRAINT sla_pause_rules_kind_ck CHECK (kind IN ('on_hold', 'awaiting_parts', 'customer_window')),
    pauses_sla    boolean NOT NULL,
    CONSTRAINT sla_pause_rules_scope_ck CHECK ((tier IS NULL) <> (contract_code IS NULL))
);
CREATE UNIQUE INDEX sla_pause_rules_tier_uq ON sla_pause_rules (tier, kind) WHERE tier IS NOT NULL;
CREATE UNIQUE INDEX sla_pause_rules_contract_uq ON sla_pause_rules (contract_code, kind) WHERE contract_code IS NOT NULL;
-- Tier defaults. A hold the customer asked for and a window the customer chose pause every tier's clock. Waiting
-- for a part pauses it on standard and bronze contracts only: key and gold include parts availability, so there
-- the wait is the organisation's and the clock keeps running.
INSERT INTO sla_pause_rules (tier, kind, pauses_sla)
SELECT t, k, CASE WHEN k = 'awaiting_parts' THEN t IN ('standard', 'bronze') ELSE true END
FROM unnest(ARRAY['key', 'gold', 'standard', 'bronze']) t, unnest(ARRAY['on_hold', 'awaiting_parts', 'customer_window']) k;

-- Every pause of a job: holds (started when put on hold, ended when resumed, cancelled or completed) and
-- customer windows (from the reschedule to the window's opening; window_end is the window's latest start).
-- pauses_sla is decided from the rules when the pause starts and never changes afterwards: the KPIs count
-- what the contract said then.
CREATE TABLE work_order_pauses (
    id            bigint GENERATED ALWAYS AS IDENTITY CONSTRAINT work_order_pauses_pk PRIMARY KEY,
    work_order_id bigint NOT NULL CONSTRAINT work_order_pauses_work_order_fk REFERENCES work_orders (id),
    incident_id   bigint NOT NULL CONSTRAINT work_order_pauses_incident_fk REFERENCES incidents (id),
    kind          text NOT NULL
                  CONSTRAINT work_order_pauses_kind_ck CHECK (kind IN ('on_hold', 'awaiting_parts', 'customer_window')),
    note          text,
    pauses_sla    boolean NOT NULL,
    started_at    timestamptz NOT NULL,
    ended_at      timestamptz,
    window_end    timestamptz,
    started_by    text NOT NULL,
    ended_by      text,
    -- The phone's id for the tap (a technician's "awaiting parts"): a replay of the same tap finds it and changes
    -- nothing, even after the job was resumed and given back to the same technician.
    request_id    uuid CONSTRAINT work_order_pauses_request_uq UNIQUE,
    CONSTRAINT work_order_pauses_order_ck CHECK (ended_at IS NULL OR ended_at >= started_at),
    CONSTRAINT work_order_pauses_window_ck CHECK ((kind = 'customer_window') = (window_end IS NOT NULL))
);
-- At most one running hold per job: a repeated "hold" finds it and changes nothing.
CREATE UNIQUE INDEX work_order_pauses_open_hold_uq ON work_order_pauses (work_order_id)
    WHERE ended_at IS NULL AND kind <> 'customer_window';
CREATE INDEX work_order_pauses_incident_ix ON work_order_pauses (incident_id);

-- The technician's side of the work-order lifecycle (issue #15 item 3, #16 item 6; block 0360-0369).
--
-- Structured visit outcomes: the knowledge base learned from free text ("as diagnosed" in the demo), so what it
-- "learned" was noise. A completed visit now names the fault mode the technician found and a fix code chosen
-- from a list; free text stays, but only as notes.
CREATE TABLE fix_codes (
    code        text CONSTRAINT fix_codes_pk PRIMARY KEY
                CONSTRAINT fix_codes_code_ck CHECK (code ~ '^[a-z][a-z0-9_]{1,39}$'),
    label       text NOT NULL CONSTRAINT fix_codes_label_ck CHECK (length(label) BETWEEN 1 AND 120),
    -- the fault modes this fix applies to (the phone lists these first); empty = any fault mode
    fault_modes text[] NOT NULL DEFAULT '{}',
    active      boolean NOT NULL DEFAULT true,
    sort_order  smallint NOT NULL DEFAULT 100
);
INSERT INTO fix_codes (code, label, fault_modes, sort_order) VALUES
    ('bearing_replaced', 'Bearing replaced', '{bearing_wear}', 10),
    ('bearing_lubricated', 'Bearing lubricated / regreased', '{bearing_wear}', 11),
    ('alignment_corrected', 'Shaft alignment corrected', '{bearing_wear}', 12),
    ('seal_replaced', 'Seal replaced', '{seal_leak}', 20),
    ('leak_repaired_recharged', 'Leak repaired, refrigerant recharged', '{refrigerant_leak}', 21),
    ('filter_replaced', 'Filter replaced', '{clogged_filter}', 30),
    ('filter_cleaned', 'Filter cleaned', '{clogged_filter}', 31),
    ('motor_protection_reset', 'Motor protection reset, cause removed', '{motor_trip}', 40),
    ('motor_replaced', 'Motor replaced', '{motor_trip,overheating}', 41),
    ('cooling_restored', 'Cooling restored (fan, airflow, heat exchanger cleaned)', '{overheating}', 42),
    ('sensor_replaced', 'Sensor replaced', '{sensor_stuck,sensor_spike,sensor_drift,sensor_dropout}', 50),
    ('sensor_recalibrated', 'Sensor recalibrated', '{sensor_drift}', 51),
    ('wiring_repaired', 'Wiring or connector repaired', '{sensor_dropout,sensor_spike,communication_loss}', 52),
    ('communication_restored', 'Gateway / network restored', '{communication_loss}', 53),
    ('settings_adjusted', 'Settings adjusted', '{}', 90),
    ('no_fault_found', 'No fault found', '{}', 98),
    ('other', 'Other (see notes)', '{}', 99);

ALTER TABLE work_orders
    -- the fault mode the technician found (may differ from the incident's diagnosed fault_mode)
    ADD COLUMN found_fault_mode text,
    ADD COLUMN fix_code text CONSTRAINT work_orders_fix_code_fk REFERENCES fix_codes (code);

-- The customer's sign-off: a name and a drawn signature (PNG from the phone's canvas), one per visit. Size and
-- format are checked by the API (dispatch/signoff.py) and bounded here again.
CREATE TABLE work_order_signoffs (
    work_order_id bigint CONSTRAINT work_order_signoffs_pk PRIMARY KEY
                  CONSTRAINT work_order_signoffs_work_order_fk REFERENCES work_orders (id),
    signer_name   text NOT NULL CONSTRAINT work_order_signoffs_name_ck CHECK (length(btrim(signer_name)) BETWEEN 1 AND 120),
    media_type    text NOT NULL CONSTRAINT work_order_signoffs_media_ck CHECK (media_type = 'image/png'),
    image         bytea NOT NULL CONSTRAINT work_order_signoffs_image_ck CHECK (octet_length(image) BETWEEN 67 AND 65536),
    width         integer NOT NULL,
    height        integer NOT NULL,
    signed_at     timestamptz NOT NULL,
    technician_id bigint CONSTRAINT work_order_signoffs_technician_fk REFERENCES technicians (id)
);

-- New phone steps are replayed with their action id like the others. technician_actions (0500) is created after
-- this block's number, so its action CHECK cannot be widened here: the new steps get their own table with the
-- same columns, and the API answers a replay from either (api/repository.py).
CREATE TABLE technician_step_actions (
    action_id     uuid CONSTRAINT technician_step_actions_pk PRIMARY KEY,
    technician_id bigint NOT NULL CONSTRAINT technician_step_actions_technician_fk REFERENCES technicians (id),
    work_order_id bigint NOT NULL CONSTRAINT technician_step_actions_work_order_fk REFERENCES work_orders (id),
    action        text NOT NULL CONSTRAINT technician_step_actions_action_ck CHECK (action IN ('signoff', 'return_parts')),
    received_at   timestamptz NOT NULL,
    applied       boolean NOT NULL DEFAULT false
);

-- Foundation schema: who (customers, technicians, users), what (devices/assets), and the service loop
-- (incidents, work orders, notifications outbox, one timeline per asset and customer).

CREATE TABLE customers (
    id          bigint GENERATED ALWAYS AS IDENTITY CONSTRAINT customers_pk PRIMARY KEY,
    name        text NOT NULL,
    tier        text NOT NULL DEFAULT 'standard'
                CONSTRAINT customers_tier_ck CHECK (tier IN ('key', 'gold', 'standard', 'bronze')),
    email       text,
    region      text NOT NULL DEFAULT 'default',
    lat         double precision NOT NULL,
    lon         double precision NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- One row per connected asset; the device id is also its MQTT username (the broker ACL keys on it).
CREATE TABLE devices (
    id                text CONSTRAINT devices_pk PRIMARY KEY,
    customer_id       bigint NOT NULL CONSTRAINT devices_customer_fk REFERENCES customers (id),
    equipment_type    text NOT NULL,
    name              text NOT NULL,
    region            text NOT NULL DEFAULT 'default',
    lat               double precision NOT NULL,
    lon               double precision NOT NULL,
    online            boolean NOT NULL DEFAULT false,
    last_seen         timestamptz,
    status_changed_at timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX devices_customer_ix ON devices (customer_id);

CREATE TABLE technicians (
    id          bigint GENERATED ALWAYS AS IDENTITY CONSTRAINT technicians_pk PRIMARY KEY,
    code        text NOT NULL CONSTRAINT technicians_code_uq UNIQUE,
    name        text NOT NULL,
    skills      text[] NOT NULL DEFAULT '{}',
    region      text NOT NULL DEFAULT 'default',
    home_lat    double precision NOT NULL,
    home_lon    double precision NOT NULL,
    lat         double precision NOT NULL,
    lon         double precision NOT NULL,
    -- Shift in local time of day; overnight shifts have shift_end < shift_start.
    shift_start time NOT NULL DEFAULT '00:00',
    shift_end   time NOT NULL DEFAULT '23:59:59',
    state       text NOT NULL DEFAULT 'free'
                CONSTRAINT technicians_state_ck CHECK (state IN ('free', 'travelling', 'on_site', 'off'))
);

CREATE TABLE incidents (
    id               bigint GENERATED ALWAYS AS IDENTITY CONSTRAINT incidents_pk PRIMARY KEY,
    device_id        text NOT NULL CONSTRAINT incidents_device_fk REFERENCES devices (id),
    customer_id      bigint NOT NULL CONSTRAINT incidents_customer_fk REFERENCES customers (id),
    source           text NOT NULL DEFAULT 'telemetry'
                     CONSTRAINT incidents_source_ck CHECK (source IN ('telemetry', 'phone', 'email', 'portal')),
    fault_mode       text NOT NULL,
    detector         text NOT NULL,
    severity         smallint NOT NULL CONSTRAINT incidents_severity_ck CHECK (severity BETWEEN 1 AND 3),
    status           text NOT NULL DEFAULT 'detected'
                     CONSTRAINT incidents_status_ck CHECK (status IN ('detected', 'remote_fix_attempted',
                         'resolved_remote', 'work_order', 'resolved_onsite', 'closed')),
    summary          text NOT NULL,
    evidence         jsonb NOT NULL DEFAULT '{}',
    opened_at        timestamptz NOT NULL,
    response_due     timestamptz NOT NULL,
    onsite_due       timestamptz NOT NULL,
    repair_due       timestamptz NOT NULL,
    resolved_at      timestamptz,
    closed_at        timestamptz
);
-- One open incident per asset and fault mode: the detector loop relies on this to stay idempotent.
CREATE UNIQUE INDEX incidents_open_uq ON incidents (device_id, fault_mode)
    WHERE status NOT IN ('resolved_remote', 'resolved_onsite', 'closed');
CREATE INDEX incidents_customer_ix ON incidents (customer_id, opened_at DESC);

CREATE TABLE work_orders (
    id                bigint GENERATED ALWAYS AS IDENTITY CONSTRAINT work_orders_pk PRIMARY KEY,
    incident_id       bigint NOT NULL CONSTRAINT work_orders_incident_fk REFERENCES incidents (id),
    device_id         text NOT NULL CONSTRAINT work_orders_device_fk REFERENCES devices (id),
    customer_id       bigint NOT NULL CONSTRAINT work_orders_customer_fk REFERENCES customers (id),
    status            text NOT NULL DEFAULT 'open'
                      CONSTRAINT work_orders_status_ck CHECK (status IN ('open', 'assigned', 'en_route',
                          'on_site', 'completed', 'cancelled')),
    required_skills   text[] NOT NULL DEFAULT '{}',
    estimated_minutes integer NOT NULL DEFAULT 60,
    lat               double precision NOT NULL,
    lon               double precision NOT NULL,
    technician_id     bigint CONSTRAINT work_orders_technician_fk REFERENCES technicians (id),
    created_at        timestamptz NOT NULL,
    onsite_due        timestamptz NOT NULL,
    assigned_at       timestamptz,
    eta               timestamptz,
    arrived_at        timestamptz,
    completed_at      timestamptz,
    actual_cause      text,
    actual_fix        text,
    notes             text
);
CREATE UNIQUE INDEX work_orders_incident_uq ON work_orders (incident_id) WHERE status <> 'cancelled';
CREATE INDEX work_orders_open_ix ON work_orders (status) WHERE status IN ('open', 'assigned', 'en_route', 'on_site');
CREATE INDEX work_orders_technician_ix ON work_orders (technician_id, status);

-- Outbox: a notification is recorded in the same transaction as the event that causes it and sent later,
-- so a crash between "incident opened" and "customer told" can lose neither.
CREATE TABLE notifications (
    id           bigint GENERATED ALWAYS AS IDENTITY CONSTRAINT notifications_pk PRIMARY KEY,
    customer_id  bigint NOT NULL CONSTRAINT notifications_customer_fk REFERENCES customers (id),
    device_id    text CONSTRAINT notifications_device_fk REFERENCES devices (id),
    incident_id  bigint CONSTRAINT notifications_incident_fk REFERENCES incidents (id),
    kind         text NOT NULL,
    channel      text NOT NULL DEFAULT 'email',
    subject      text NOT NULL,
    body         text NOT NULL,
    created_at   timestamptz NOT NULL,
    sent_at      timestamptz,
    attempts     integer NOT NULL DEFAULT 0
);
CREATE INDEX notifications_unsent_ix ON notifications (created_at) WHERE sent_at IS NULL;

-- One timeline per asset and customer: every touchpoint lands here.
CREATE TABLE timeline_events (
    id           bigint GENERATED ALWAYS AS IDENTITY CONSTRAINT timeline_events_pk PRIMARY KEY,
    device_id    text CONSTRAINT timeline_events_device_fk REFERENCES devices (id),
    customer_id  bigint NOT NULL CONSTRAINT timeline_events_customer_fk REFERENCES customers (id),
    at           timestamptz NOT NULL,
    kind         text NOT NULL,
    summary      text NOT NULL,
    incident_id  bigint,
    work_order_id bigint,
    data         jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX timeline_events_device_ix ON timeline_events (device_id, at DESC);
CREATE INDEX timeline_events_customer_ix ON timeline_events (customer_id, at DESC);

CREATE TABLE users (
    id            bigint GENERATED ALWAYS AS IDENTITY CONSTRAINT users_pk PRIMARY KEY,
    username      text NOT NULL CONSTRAINT users_username_uq UNIQUE,
    password_hash text NOT NULL,
    role          text NOT NULL CONSTRAINT users_role_ck CHECK (role IN ('admin', 'dispatcher', 'technician', 'customer')),
    customer_id   bigint CONSTRAINT users_customer_fk REFERENCES customers (id),
    technician_id bigint CONSTRAINT users_technician_fk REFERENCES technicians (id),
    CONSTRAINT users_scope_ck CHECK (
        (role = 'customer' AND customer_id IS NOT NULL) OR
        (role = 'technician' AND technician_id IS NOT NULL) OR
        role IN ('admin', 'dispatcher'))
);

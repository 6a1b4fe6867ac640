-- The three faces (board, technician, portal) and the notification sender: what they need beside the
-- foundation's service loop. Block 0500-0519 belongs to api/.

-- One answer per completed work order; the KPI strip's NPS is computed from these rows.
CREATE TABLE nps_surveys (
    id            bigint GENERATED ALWAYS AS IDENTITY CONSTRAINT nps_surveys_pk PRIMARY KEY,
    work_order_id bigint NOT NULL CONSTRAINT nps_surveys_work_order_fk REFERENCES work_orders (id)
                  CONSTRAINT nps_surveys_work_order_uq UNIQUE,
    customer_id   bigint NOT NULL CONSTRAINT nps_surveys_customer_fk REFERENCES customers (id),
    score         smallint NOT NULL CONSTRAINT nps_surveys_score_ck CHECK (score BETWEEN 0 AND 10),
    comment       text,
    answered_at   timestamptz NOT NULL
);
CREATE INDEX nps_surveys_answered_ix ON nps_surveys (answered_at);

-- Per customer, per notification kind and channel: on or off. No row means "on" (customers are told by default).
CREATE TABLE notification_preferences (
    customer_id bigint NOT NULL CONSTRAINT notification_preferences_customer_fk REFERENCES customers (id),
    kind        text NOT NULL,
    channel     text NOT NULL CONSTRAINT notification_preferences_channel_ck CHECK (channel IN ('email', 'webhook')),
    enabled     boolean NOT NULL,
    CONSTRAINT notification_preferences_pk PRIMARY KEY (customer_id, kind, channel)
);

-- A customer's systems that want events pushed; the secret signs each body (HMAC-SHA256).
CREATE TABLE webhook_endpoints (
    id          bigint GENERATED ALWAYS AS IDENTITY CONSTRAINT webhook_endpoints_pk PRIMARY KEY,
    customer_id bigint NOT NULL CONSTRAINT webhook_endpoints_customer_fk REFERENCES customers (id),
    url         text NOT NULL,
    secret      text NOT NULL,
    active      boolean NOT NULL DEFAULT true
);
CREATE INDEX webhook_endpoints_customer_ix ON webhook_endpoints (customer_id) WHERE active;

-- Retry bookkeeping for the sender: when to try again, and why the last try failed.
ALTER TABLE notifications ADD COLUMN next_attempt_at timestamptz;
ALTER TABLE notifications ADD COLUMN last_error text;
-- Per channel delivery record, so a notification sent by e-mail but not yet by webhook retries only the latter.
CREATE TABLE notification_deliveries (
    notification_id bigint NOT NULL CONSTRAINT notification_deliveries_notification_fk REFERENCES notifications (id),
    channel         text NOT NULL,
    target          text NOT NULL,
    sent_at         timestamptz NOT NULL,
    CONSTRAINT notification_deliveries_pk PRIMARY KEY (notification_id, channel, target)
);

-- Technician app actions, keyed by the id the phone generated: a replay after a dead zone is recognised and
-- answered with the first result instead of being applied twice.
CREATE TABLE technician_actions (
    action_id     uuid CONSTRAINT technician_actions_pk PRIMARY KEY,
    technician_id bigint NOT NULL CONSTRAINT technician_actions_technician_fk REFERENCES technicians (id),
    work_order_id bigint NOT NULL CONSTRAINT technician_actions_work_order_fk REFERENCES work_orders (id),
    action        text NOT NULL CONSTRAINT technician_actions_action_ck CHECK (action IN ('en_route', 'arrived', 'completed')),
    received_at   timestamptz NOT NULL,
    applied       boolean NOT NULL,
    parts_used    jsonb NOT NULL DEFAULT '[]'
);

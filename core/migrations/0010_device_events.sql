-- Device events (block 0010-0019): alarms and operating-state changes the edge agent reports on
-- qf/v1/{id}/event. Each (device_id, seq) is stored once, like a telemetry batch, so a resent event (QoS 1
-- redelivery, or the agent resending after a missing end-to-end ack) never appears twice on the timeline.
CREATE TABLE device_events (
    device_id    text NOT NULL CONSTRAINT device_events_device_fk REFERENCES devices (id),
    seq          bigint NOT NULL,
    at           timestamptz NOT NULL,
    kind         text NOT NULL,
    data         jsonb NOT NULL DEFAULT '{}',
    received_at  timestamptz NOT NULL,
    CONSTRAINT device_events_pk PRIMARY KEY (device_id, seq)
);
CREATE INDEX device_events_device_at_ix ON device_events (device_id, at DESC);

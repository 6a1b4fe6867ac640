-- name: claim_events
-- Store each (device, seq) once; RETURNING gives only the new events (with the device's customer), the only
-- ones that go onto the timeline.
WITH ins AS (
    INSERT INTO device_events (device_id, seq, at, kind, data, received_at)
    SELECT * FROM unnest(%s::text[], %s::bigint[], %s::timestamptz[], %s::text[], %s::jsonb[],
                         %s::timestamptz[])
    ON CONFLICT ON CONSTRAINT device_events_pk DO NOTHING
    RETURNING device_id, seq, at, kind, data)
SELECT ins.device_id, ins.seq, ins.at, ins.kind, ins.data, d.customer_id
FROM ins JOIN devices d ON d.id = ins.device_id
ORDER BY ins.device_id, ins.seq;

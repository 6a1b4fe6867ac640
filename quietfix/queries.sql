-- name: demo_counts
SELECT (SELECT count(*) FROM devices) AS devices,
       (SELECT coalesce(sum(cardinality(readings)), 0) FROM telemetry_samples) AS readings_stored,
       (SELECT count(*) FROM incidents) AS incidents,
       (SELECT count(*) FROM work_orders) AS work_orders,
       (SELECT count(*) FROM work_orders WHERE technician_id IS NOT NULL) AS assigned,
       (SELECT count(*) FROM notifications) AS notifications,
       (SELECT count(*) FROM dead_letters) AS dead_letters;

-- name: fleet_devices
SELECT id, equipment_type, customer_id, lat, lon FROM devices ORDER BY id;

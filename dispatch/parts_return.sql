-- name: unused_into_van
-- What the completion at :at put back into (return) or left in (release) the technician's van for this job.
SELECT l.sku, sum(l.qty) AS qty
FROM stock_ledger l JOIN stock_locations s ON s.id = l.location_id
WHERE l.work_order_id = %(work_order_id)s AND s.kind = 'van' AND l.kind IN ('return', 'release')
  AND l.at = %(at)s
GROUP BY l.sku ORDER BY l.sku;

-- name: returnable
-- Units a job put into its technician's van (return rows at the van) minus units it took back to a depot
-- (return rows at a depot or warehouse).
SELECT l.work_order_id, l.sku,
       sum(CASE WHEN s.kind = 'van' THEN l.qty ELSE -l.qty END) AS qty
FROM stock_ledger l JOIN stock_locations s ON s.id = l.location_id
WHERE l.work_order_id = ANY(%(ids)s) AND l.kind = 'return'
GROUP BY l.work_order_id, l.sku ORDER BY l.work_order_id, l.sku;

-- name: depots_near
SELECT id, name, kind, lat, lon FROM stock_locations WHERE kind IN ('depot', 'warehouse')
ORDER BY (lat - %(lat)s) ^ 2 + ((lon - %(lon)s) * cos(radians(%(lat)s))) ^ 2, id LIMIT %(limit)s;

-- name: depot
SELECT id, name, kind FROM stock_locations WHERE id = %(id)s AND kind IN ('depot', 'warehouse');

-- name: van_of
SELECT id FROM stock_locations WHERE kind = 'van' AND technician_id = %(tid)s;

-- name: work_order_refs
SELECT id, incident_id, device_id, customer_id, technician_id FROM work_orders WHERE id = %(work_order_id)s;

-- Named queries for spares.repository; each block starts with "-- name: <name>".
-- Every stock change goes through ensure_level + apply_deltas + insert_ledger, in the caller's transaction.

-- name: insert_part
INSERT INTO parts (sku, description, equipment_types, unit_cost, weight_kg)
VALUES (%(sku)s, %(description)s, %(equipment_types)s, %(unit_cost)s, %(weight_kg)s);

-- name: insert_location
INSERT INTO stock_locations (kind, name, lat, lon, technician_id)
VALUES (%(kind)s, %(name)s, %(lat)s, %(lon)s, %(technician_id)s)
RETURNING id;

-- name: get_level
SELECT location_id, sku, on_hand, reserved, in_transit
FROM stock_levels WHERE location_id = %(location_id)s AND sku = %(sku)s;

-- name: levels_for_sku
SELECT location_id, sku, on_hand, reserved, in_transit
FROM stock_levels WHERE sku = %(sku)s ORDER BY location_id;

-- name: ensure_level
INSERT INTO stock_levels (location_id, sku) VALUES (%(location_id)s, %(sku)s)
ON CONFLICT (location_id, sku) DO NOTHING;

-- The WHERE clause repeats the table's CHECKs so that a movement that would break them matches no row (the
-- caller gets InsufficientStock and its transaction stays usable). Under concurrency the row lock serialises
-- writers and PostgreSQL re-checks the WHERE on the newest row version, so the last unit is reserved once.
-- name: apply_deltas
UPDATE stock_levels
SET on_hand = on_hand + %(d_on_hand)s,
    reserved = reserved + %(d_reserved)s,
    in_transit = in_transit + %(d_in_transit)s,
    updated_at = %(at)s
WHERE location_id = %(location_id)s AND sku = %(sku)s
  AND on_hand + %(d_on_hand)s >= 0
  AND reserved + %(d_reserved)s >= 0
  AND in_transit + %(d_in_transit)s >= 0
  AND reserved + %(d_reserved)s <= on_hand + %(d_on_hand)s
RETURNING location_id, sku, on_hand, reserved, in_transit;

-- name: insert_ledger
INSERT INTO stock_ledger (at, location_id, sku, kind, qty, d_on_hand, d_reserved, d_in_transit,
                          work_order_id, reservation_id, shipment_id, note)
VALUES (%(at)s, %(location_id)s, %(sku)s, %(kind)s, %(qty)s, %(d_on_hand)s, %(d_reserved)s, %(d_in_transit)s,
        %(work_order_id)s, %(reservation_id)s, %(shipment_id)s, %(note)s)
RETURNING id;

-- name: ledger_for_level
SELECT id, at, kind, qty, d_on_hand, d_reserved, d_in_transit, work_order_id
FROM stock_ledger WHERE location_id = %(location_id)s AND sku = %(sku)s ORDER BY id;

-- name: insert_reservation
INSERT INTO reservations (work_order_id, location_id, sku, qty, created_at)
VALUES (%(work_order_id)s, %(location_id)s, %(sku)s, %(qty)s, %(at)s)
RETURNING id;

-- Closing is conditional on the reservation still being active, so a double consume or release is refused.
-- name: close_reservation
UPDATE reservations SET status = %(status)s, closed_at = %(at)s
WHERE id = %(id)s AND status = 'active'
RETURNING id, work_order_id, location_id, sku, qty;

-- name: reservations_for_work_order
SELECT id, work_order_id, location_id, sku, qty, status
FROM reservations WHERE work_order_id = %(work_order_id)s ORDER BY id;

-- name: insert_shipment
INSERT INTO shipments (sku, qty, from_location_id, to_location_id, to_technician_id, to_lat, to_lon,
                       work_order_id, same_day, shipped_at, eta)
VALUES (%(sku)s, %(qty)s, %(from_location_id)s, %(to_location_id)s, %(to_technician_id)s, %(to_lat)s,
        %(to_lon)s, %(work_order_id)s, %(same_day)s, %(shipped_at)s, %(eta)s)
RETURNING id;

-- name: get_shipment
SELECT id, sku, qty, from_location_id, status, shipped_at, eta, to_location_id, to_technician_id, to_lat, to_lon,
       work_order_id, same_day
FROM shipments WHERE id = %(id)s FOR UPDATE;

-- name: set_shipment_status
UPDATE shipments SET status = %(status)s,
       delivered_at = CASE WHEN %(status)s = 'delivered' THEN %(at)s::timestamptz ELSE delivered_at END
WHERE id = %(id)s;

-- A hold the stock could not back is removed again in the same transaction.
-- name: delete_reservation
DELETE FROM reservations WHERE id = %(id)s;

-- ---------------------------------------------------------------------------------------------------------
-- The live flow (spares/service.py): needs 0410_spares_flow.sql and the foundation's work orders.
-- ---------------------------------------------------------------------------------------------------------

-- name: tag_reservation
UPDATE reservations SET source_kind = %(source_kind)s, technician_id = %(technician_id)s,
       shipment_id = %(shipment_id)s
WHERE id = %(id)s;

-- name: active_plan_reservations
-- What the plan currently holds for these work orders (and the shipment a courier hold is waiting for).
SELECT r.id, r.work_order_id, r.location_id, r.sku, r.qty, r.source_kind, r.technician_id, r.shipment_id,
       s.status AS shipment_status
FROM reservations r LEFT JOIN shipments s ON s.id = r.shipment_id
WHERE r.work_order_id = ANY(%(work_order_ids)s) AND r.status = 'active'
ORDER BY r.work_order_id, r.id;

-- name: open_shipments_for_work_orders
-- Courier shipments already on their way to the sites of these work orders (a re-plan never recalls them).
SELECT id, work_order_id, sku, qty, status FROM shipments
WHERE work_order_id = ANY(%(work_order_ids)s) AND status IN ('picked', 'in_transit', 'delivered')
  AND to_lat IS NOT NULL
ORDER BY id;

-- name: orphan_reservations
-- Active holds whose work order is no longer active (cancelled, or completed without consuming them).
SELECT r.id, r.shipment_id FROM reservations r JOIN work_orders w ON w.id = r.work_order_id
WHERE r.status = 'active' AND w.status NOT IN ('open', 'assigned', 'en_route', 'on_site')
ORDER BY r.id;

-- name: shipment_reservations
SELECT id FROM reservations WHERE shipment_id = %(shipment_id)s AND status = 'active' ORDER BY id;

-- name: van_of
SELECT id, name, lat, lon FROM stock_locations WHERE kind = 'van' AND technician_id = %(technician_id)s;

-- name: location
SELECT id, kind, name, lat, lon, technician_id FROM stock_locations WHERE id = %(id)s;

-- name: stock_points
-- Depots and warehouses with what they can still give away, for the SKUs asked.
SELECT l.id, l.kind, l.name, l.lat, l.lon, s.sku, s.on_hand - s.reserved AS available
FROM stock_locations l JOIN stock_levels s ON s.location_id = l.id
WHERE l.kind IN ('depot', 'warehouse') AND s.sku = ANY(%(skus)s) AND s.on_hand > s.reserved
ORDER BY l.id, s.sku;

-- name: all_available
-- Every location's unreserved units of these SKUs (vans included), for the out-of-stock check.
SELECT l.id, l.kind, l.lat, l.lon, s.sku, s.on_hand - s.reserved AS available
FROM stock_locations l JOIN stock_levels s ON s.location_id = l.id
WHERE s.sku = ANY(%(skus)s) AND s.on_hand > s.reserved
ORDER BY l.id, s.sku;

-- name: insert_alert
INSERT INTO spares_alerts (incident_id, work_order_id, sku, needed, available, created_at)
VALUES (%(incident_id)s, %(work_order_id)s, %(sku)s, %(needed)s, %(available)s, %(at)s)
ON CONFLICT (incident_id, sku) DO NOTHING
RETURNING id;

-- name: part_exists
SELECT sku FROM parts WHERE sku = ANY(%(skus)s);

-- name: work_order_for_parts
SELECT w.id, w.status, w.technician_id, w.incident_id, w.customer_id, w.device_id, w.lat, w.lon,
       w.required_parts
FROM work_orders w WHERE w.id = %(work_order_id)s;

-- name: work_order_shipments
SELECT id, sku, qty, status, from_location_id FROM shipments
WHERE work_order_id = %(work_order_id)s AND status <> 'cancelled' ORDER BY id;

-- name: active_parts_orders
-- Active work orders that need parts, most urgent first (they claim scarce stock first).
SELECT w.id, w.incident_id, w.customer_id, w.device_id, w.lat, w.lon, w.required_parts
FROM work_orders w
WHERE w.status IN ('open', 'assigned', 'en_route', 'on_site') AND w.required_parts IS NOT NULL
  AND w.required_parts <> '{}'::jsonb
ORDER BY w.onsite_due, w.id;

-- name: still_active
-- Work orders of a plan that are still active now (the plan was computed from an older read).
SELECT id FROM work_orders WHERE id = ANY(%(work_order_ids)s) AND status IN ('open', 'assigned', 'en_route', 'on_site');

-- ---------------------------------------------------------------------------------------------------------
-- Read models for the API (api/routes/spares.py)
-- ---------------------------------------------------------------------------------------------------------

-- name: list_parts
SELECT sku, description, equipment_types, unit_cost::float8 AS unit_cost, weight_kg::float8 AS weight_kg
FROM parts ORDER BY sku;

-- name: get_part
SELECT sku FROM parts WHERE sku = %(sku)s;

-- name: list_locations
SELECT id, kind, name, lat, lon, technician_id FROM stock_locations
WHERE (%(kind)s::text IS NULL OR kind = %(kind)s) ORDER BY kind, id;

-- name: stock
-- On hand, reserved and in transit per location and SKU (rows that ever existed; zeros included).
SELECT l.id AS location_id, l.kind, l.name AS location_name, l.technician_id, l.lat, l.lon, s.sku,
       s.on_hand, s.reserved, s.in_transit, s.on_hand - s.reserved AS available, s.updated_at
FROM stock_levels s JOIN stock_locations l ON l.id = s.location_id
WHERE (%(location_id)s::bigint IS NULL OR l.id = %(location_id)s)
  AND (%(kind)s::text IS NULL OR l.kind = %(kind)s)
  AND (%(sku)s::text IS NULL OR s.sku = %(sku)s)
ORDER BY l.kind, l.id, s.sku;

-- name: work_order_parts
-- What each job needs to collect and where: van and depot holds (consumed ones too), and courier shipments to
-- the site (a courier hold is shown as its shipment). lat/lon: where the technician gets the part.
SELECT r.work_order_id, r.sku, r.qty,
       coalesce(r.source_kind, CASE WHEN l.kind = 'van' THEN 'van' ELSE 'depot' END) AS source_kind,
       l.id AS location_id, l.name AS location_name, l.lat, l.lon,
       CASE WHEN r.status = 'active' THEN 'reserved' ELSE r.status END AS status,
       NULL::bigint AS shipment_id, NULL::timestamptz AS eta, r.id AS reservation_id
FROM reservations r JOIN stock_locations l ON l.id = r.location_id
WHERE r.work_order_id = ANY(%(ids)s) AND r.status IN ('active', 'consumed')
  AND r.source_kind IS DISTINCT FROM 'courier'
UNION ALL
SELECT s.work_order_id, s.sku, s.qty, 'courier', l.id, l.name, coalesce(s.to_lat, t.lat), coalesce(s.to_lon, t.lon),
       s.status, s.id, s.eta, NULL::bigint
FROM shipments s JOIN stock_locations l ON l.id = s.from_location_id
LEFT JOIN stock_locations t ON t.id = s.to_location_id
WHERE s.work_order_id = ANY(%(ids)s) AND s.status <> 'cancelled'
ORDER BY 1, 2, 4;

-- name: work_order_required
SELECT id, status, technician_id, required_parts FROM work_orders WHERE id = ANY(%(ids)s);

-- name: reservations_detail
SELECT r.id, r.work_order_id, r.location_id, l.name AS location_name, r.sku, r.qty, r.status, r.source_kind,
       r.technician_id, r.shipment_id, r.created_at, r.closed_at
FROM reservations r JOIN stock_locations l ON l.id = r.location_id
WHERE r.work_order_id = %(work_order_id)s ORDER BY r.id;

-- name: list_shipments
SELECT s.id, s.sku, s.qty, s.status, s.from_location_id, f.name AS from_name, s.to_location_id, t.name AS to_name,
       s.to_technician_id, s.to_lat, s.to_lon, s.work_order_id, s.same_day, s.shipped_at, s.eta, s.delivered_at
FROM shipments s JOIN stock_locations f ON f.id = s.from_location_id
LEFT JOIN stock_locations t ON t.id = s.to_location_id
WHERE (%(statuses)s::text[] IS NULL OR s.status = ANY(%(statuses)s))
  AND (%(work_order_id)s::bigint IS NULL OR s.work_order_id = %(work_order_id)s)
ORDER BY s.eta, s.id
LIMIT %(limit)s;

-- name: list_alerts
SELECT a.id, a.incident_id, a.work_order_id, a.sku, a.needed, a.available, a.created_at, a.acknowledged_at,
       a.acknowledged_by, w.status AS work_order_status, w.device_id
FROM spares_alerts a JOIN work_orders w ON w.id = a.work_order_id
WHERE (%(open_only)s = false OR a.acknowledged_at IS NULL)
ORDER BY a.created_at DESC, a.id DESC
LIMIT 500;

-- name: ack_alert
UPDATE spares_alerts SET acknowledged_at = %(at)s, acknowledged_by = %(by)s
WHERE id = %(id)s AND acknowledged_at IS NULL
RETURNING id;

-- name: ledger_recent
SELECT id, at, location_id, sku, kind, qty, d_on_hand, d_reserved, d_in_transit, work_order_id, reservation_id,
       shipment_id, note
FROM stock_ledger
WHERE (%(location_id)s::bigint IS NULL OR location_id = %(location_id)s)
  AND (%(sku)s::text IS NULL OR sku = %(sku)s)
  AND (%(work_order_id)s::bigint IS NULL OR work_order_id = %(work_order_id)s)
ORDER BY id DESC LIMIT %(limit)s;

-- name: daily_consumption
-- Units fitted (consume, issue) per location, SKU and UTC day since a date: the background demand history.
SELECT location_id, sku, (at AT TIME ZONE 'UTC')::date AS day, sum(qty)::int AS qty
FROM stock_ledger
WHERE kind IN ('consume', 'issue') AND at >= %(since)s
GROUP BY location_id, sku, day;

-- name: shipment_view
SELECT s.id, s.sku, s.qty, s.status, s.from_location_id, f.name AS from_name, s.to_location_id, t.name AS to_name,
       s.to_technician_id, s.to_lat, s.to_lon, s.work_order_id, s.same_day, s.shipped_at, s.eta, s.delivered_at
FROM shipments s JOIN stock_locations f ON f.id = s.from_location_id
LEFT JOIN stock_locations t ON t.id = s.to_location_id
WHERE s.id = %(id)s;

-- name: open_order_keys
-- Replenishment orders still open (proposed or approved): a suggestion already ordered is not proposed again.
SELECT kind, coalesce(from_location_id, 0) AS from_id, to_location_id, sku FROM replenishment_orders
WHERE status IN ('proposed', 'approved');

-- name: insert_order
INSERT INTO replenishment_orders (kind, from_location_id, to_location_id, sku, qty, unit_cost, basis, proposed_at,
                                  proposed_by)
SELECT %(kind)s, %(from_location_id)s, %(to_location_id)s, %(sku)s, %(qty)s, p.unit_cost, %(basis)s, %(at)s, %(by)s
FROM parts p WHERE p.sku = %(sku)s
ON CONFLICT (kind, (coalesce(from_location_id, 0)), to_location_id, sku) WHERE status IN ('proposed', 'approved')
DO NOTHING
RETURNING id;

-- name: lock_order
SELECT id, kind, from_location_id, to_location_id, sku, qty, status, shipment_id FROM replenishment_orders
WHERE id = %(id)s FOR UPDATE;

-- name: decide_order
UPDATE replenishment_orders SET status = %(status)s, decided_at = %(at)s, decided_by = %(by)s,
       shipment_id = %(shipment_id)s
WHERE id = %(id)s AND status = 'proposed';

-- name: receive_order
UPDATE replenishment_orders SET status = 'received', received_at = %(at)s, received_by = %(by)s,
       received_qty = %(qty)s
WHERE id = %(id)s AND status = 'approved';

-- name: list_orders
-- Orders for the spares page, open ones first, with the names a dispatcher recognises and the order's value.
SELECT o.id, o.kind, o.status, o.sku, p.description, o.qty, o.unit_cost, o.qty * o.unit_cost AS value,
       o.from_location_id, f.name AS from_name, o.to_location_id, t.name AS to_name, t.kind AS to_kind, o.basis,
       o.proposed_at, o.proposed_by, o.decided_at, o.decided_by, o.received_at, o.received_by, o.received_qty,
       o.shipment_id, s.status AS shipment_status, s.eta AS shipment_eta
FROM replenishment_orders o
JOIN parts p ON p.sku = o.sku
JOIN stock_locations t ON t.id = o.to_location_id
LEFT JOIN stock_locations f ON f.id = o.from_location_id
LEFT JOIN shipments s ON s.id = o.shipment_id
WHERE (%(status)s::text IS NULL OR o.status = %(status)s) AND (%(id)s::bigint IS NULL OR o.id = %(id)s)
ORDER BY (o.status IN ('proposed', 'approved')) DESC, o.id DESC
LIMIT %(limit)s;

-- name: last_proposal_by
-- When this proposer last proposed an order (any status): the nightly review runs once per review period.
SELECT extract(epoch FROM max(proposed_at))::float8 AS at FROM replenishment_orders WHERE proposed_by = %(by)s;

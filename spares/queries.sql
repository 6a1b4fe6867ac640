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

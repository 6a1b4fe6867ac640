-- name: signable_work_order
-- The technician's own visit, locked: a concurrent completion or cancellation waits for the sign-off.
SELECT id, status, incident_id, device_id, customer_id FROM work_orders
WHERE id = %(work_order_id)s AND technician_id = %(tid)s FOR UPDATE;

-- name: insert_signoff
INSERT INTO work_order_signoffs (work_order_id, signer_name, media_type, image, width, height, signed_at,
                                 technician_id)
VALUES (%(work_order_id)s, %(name)s, 'image/png', %(image)s, %(width)s, %(height)s, %(at)s, %(tid)s)
ON CONFLICT (work_order_id) DO NOTHING
RETURNING work_order_id;

-- name: signoffs_of
SELECT work_order_id, signer_name, signed_at FROM work_order_signoffs WHERE work_order_id = ANY(%(ids)s);

-- name: signature_image
SELECT s.image, w.customer_id, w.technician_id FROM work_order_signoffs s
JOIN work_orders w ON w.id = s.work_order_id WHERE s.work_order_id = %(work_order_id)s;

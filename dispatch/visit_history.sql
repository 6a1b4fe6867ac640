-- name: visits_of
SELECT w.incident_id, w.id AS work_order_id, w.visit_no, w.status, w.outcome, w.departed_at, w.arrived_at,
       w.completed_at, t.code AS technician_code, w.found_fault_mode, w.fix_code, w.notes
FROM work_orders w LEFT JOIN technicians t ON t.id = w.technician_id
WHERE w.incident_id = ANY(%(ids)s)
ORDER BY w.incident_id, w.visit_no, w.id;

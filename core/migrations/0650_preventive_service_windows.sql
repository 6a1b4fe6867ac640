-- When a preventive visit may start (planning/windows.py): inside its window of days, only while the site lets
-- a technician in (access hours) and the contract covers work (coverage hours), both in the customer's zone,
-- shortened by the visit's duration. An array of [start, end] pairs (epoch seconds, ascending); dispatch plans
-- the visit in the first one still open. NULL (corrective work, or no hours known): the plain window of days.
ALTER TABLE work_orders ADD COLUMN service_windows jsonb
    CONSTRAINT work_orders_service_windows_ck CHECK (service_windows IS NULL OR jsonb_typeof(service_windows) = 'array');

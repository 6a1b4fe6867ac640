-- The arrival time a customer was last told for a visit that is not yet its technician's next stop
-- (dispatch/notices.py, notification kind 'visit_planned'). Kept on the work order so that every re-plan can
-- tell whether the plan moved by more than the notice threshold without searching the timeline. NULL = never told.
ALTER TABLE work_orders ADD COLUMN planned_eta_told timestamptz;

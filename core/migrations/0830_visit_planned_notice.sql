-- The arrival time a customer was last told for a visit that is not yet its technician's next stop, and when
-- (dispatch/notices.py, notification kind 'visit_planned'). Kept on the work order so that every re-plan can tell
-- whether to tell again (the plan slipped later by more than the threshold, at most once an hour) without
-- searching the timeline. NULL = never told.
ALTER TABLE work_orders ADD COLUMN planned_eta_told timestamptz, ADD COLUMN planned_told_at timestamptz;

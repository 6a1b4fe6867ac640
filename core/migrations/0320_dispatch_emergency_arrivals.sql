-- Preventive gate (dispatch/planner.py admit_preventive): the live loop counts the emergencies (corrective work
-- orders) created in the last two hours on every re-plan; this index keeps that a range scan. (Not partial on
-- kind: that column comes with 0610, after this block.)
CREATE INDEX work_orders_created_ix ON work_orders (created_at);

-- The phone's action ids in one table. Migration 0360 gave the sign-off and parts-return steps a table of their
-- own (technician_step_actions) only because technician_actions (0500) did not exist yet at its number, so the
-- API looked a replay up in both and an id could be used once in each. Now both exist: technician_actions takes
-- every kind of step, the step rows move across with their ids (a tap made before this migration and replayed
-- after it is still recognised, and answered as before), and the old name stays as a read-only view.
ALTER TABLE technician_actions DROP CONSTRAINT technician_actions_action_ck;
ALTER TABLE technician_actions ADD CONSTRAINT technician_actions_action_ck
    CHECK (action IN ('en_route', 'arrived', 'completed', 'not_fixed', 'signoff', 'return_parts'));

-- An id in both tables (possible before: a lifecycle tap did not look in the step table) keeps the
-- technician_actions row, the one the API's replay lookup answered with.
INSERT INTO technician_actions (action_id, technician_id, work_order_id, action, received_at, applied)
SELECT action_id, technician_id, work_order_id, action, received_at, applied FROM technician_step_actions
ON CONFLICT ON CONSTRAINT technician_actions_pk DO NOTHING;

DROP TABLE technician_step_actions;

-- For readers of the old name (reports, ad-hoc SQL); nothing in the product writes or reads it.
CREATE VIEW technician_step_actions AS
SELECT action_id, technician_id, work_order_id, action, received_at, applied
FROM technician_actions WHERE action IN ('signoff', 'return_parts');

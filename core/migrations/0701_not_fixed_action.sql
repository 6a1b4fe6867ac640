-- The technician's app can end a visit unfixed (wrong part, wrong diagnosis): a return visit follows (0700).
ALTER TABLE technician_actions DROP CONSTRAINT technician_actions_action_ck;
ALTER TABLE technician_actions ADD CONSTRAINT technician_actions_action_ck
    CHECK (action IN ('en_route', 'arrived', 'completed', 'not_fixed'));

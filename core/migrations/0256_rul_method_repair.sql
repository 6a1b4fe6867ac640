-- rul_estimates.method also names the 'repair' row the preventive planner writes when a completed repair resolves
-- a predicted failure (planning/queries.sql resolve_predictions: the asset's wear is learnt again from there).
-- 0255 allowed only the two estimators and so refused that row.
ALTER TABLE rul_estimates DROP CONSTRAINT rul_estimates_method_ck;
ALTER TABLE rul_estimates
    ADD CONSTRAINT rul_estimates_method_ck CHECK (method IN ('trend', 'learned', 'repair'));

-- Learned models as versioned product data (issue #16 items 1 and 2).
--
-- normal_models gains what an operator needs to trust a version: the healthy-history window it was trained on
-- and its metrics (signals, components, training false-alarm rate). rul_models holds the fleet's own
-- remaining-useful-life regressors, trained on run-to-failure histories that completed repairs label; the
-- model is stored as JSON trees (never pickle: loading a row must not be able to execute code).
-- rul_estimates.method says which estimator produced a row: 'learned' (rul_models) or 'trend' (fallback).

ALTER TABLE normal_models
    ADD COLUMN window_start timestamptz,
    ADD COLUMN window_end   timestamptz,
    ADD COLUMN metrics      jsonb NOT NULL DEFAULT '{}';

CREATE TABLE rul_models (
    equipment_type text NOT NULL,
    version        integer NOT NULL,
    model          jsonb NOT NULL,
    trained_at     timestamptz NOT NULL,
    window_start   timestamptz NOT NULL,
    window_end     timestamptz NOT NULL,
    failures       integer NOT NULL,
    samples        integer NOT NULL,
    metrics        jsonb NOT NULL DEFAULT '{}',
    CONSTRAINT rul_models_pk PRIMARY KEY (equipment_type, version)
);

ALTER TABLE rul_estimates
    ADD CONSTRAINT rul_estimates_method_ck CHECK (method IN ('trend', 'learned'));

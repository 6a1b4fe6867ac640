-- Service targets beside contract deadlines (issue #14; block 0640-0659).
-- The organisation promises every customer the same *service targets* (respond 15 min, on site 2 h, repaired
-- 24 h by default: settings `service.*`), which a contract may tighten or loosen (target_* columns). A contract's
-- *deadlines* are what it legally commits to and may be longer; they come from the contract row, else from the
-- per-tier defaults below, never from constants in code. NULL in a contract column means "use the default".

CREATE TABLE sla_tier_defaults (
    tier          text CONSTRAINT sla_tier_defaults_pk PRIMARY KEY
                  CONSTRAINT sla_tier_defaults_tier_ck CHECK (tier IN ('key', 'gold', 'standard', 'bronze')),
    response_min  integer NOT NULL CONSTRAINT sla_tier_defaults_response_ck CHECK (response_min > 0),
    onsite_min    integer NOT NULL CONSTRAINT sla_tier_defaults_onsite_ck CHECK (onsite_min > 0),
    repair_h      integer NOT NULL CONSTRAINT sla_tier_defaults_repair_ck CHECK (repair_h > 0)
);
-- The values the code carried until now (diagnostics.incidents.SLA_BY_TIER).
INSERT INTO sla_tier_defaults (tier, response_min, onsite_min, repair_h) VALUES
    ('key', 10, 90, 12), ('gold', 10, 90, 12), ('standard', 15, 120, 24), ('bronze', 30, 240, 48);

ALTER TABLE contracts
    ADD COLUMN response_min        integer CONSTRAINT contracts_response_min_ck CHECK (response_min > 0),
    ADD COLUMN onsite_min          integer CONSTRAINT contracts_onsite_min_ck CHECK (onsite_min > 0),
    ADD COLUMN repair_h            integer CONSTRAINT contracts_repair_h_ck CHECK (repair_h > 0),
    ADD COLUMN target_response_min integer CONSTRAINT contracts_target_response_ck CHECK (target_response_min > 0),
    ADD COLUMN target_onsite_min   integer CONSTRAINT contracts_target_onsite_ck CHECK (target_onsite_min > 0),
    ADD COLUMN target_repair_h     integer CONSTRAINT contracts_target_repair_ck CHECK (target_repair_h > 0);

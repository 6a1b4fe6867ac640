-- Incident history brought in from before quietfix ran (a previous system's tickets, or the demo's seeded weeks):
-- source 'import'. The workload forecast and the roster learn from it; the service KPIs leave it out, because
-- quietfix neither answered nor dispatched those incidents (no deliveries or visits are recorded for them).
ALTER TABLE incidents DROP CONSTRAINT incidents_source_ck;
ALTER TABLE incidents ADD CONSTRAINT incidents_source_ck
    CHECK (source IN ('telemetry', 'phone', 'email', 'portal', 'planning', 'import'));

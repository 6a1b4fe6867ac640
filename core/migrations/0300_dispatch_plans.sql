-- Live re-planning (block 0300-0319 belongs to dispatch/): the optimiser's plans and their stops, the
-- dispatcher's controls on work orders (pin, lock), parts per work order, technician breaks, and a change
-- counter that tells the dispatch loop cheaply that something it plans from has changed.

-- Dispatcher controls and parts. A pin forces the technician; a lock keeps the job on its planned technician
-- and in its planned order. required_parts maps SKU -> quantity, e.g. {"BRG-6204": 1}; NULL = no parts needed.
ALTER TABLE work_orders
    ADD COLUMN pinned_technician_id bigint CONSTRAINT work_orders_pinned_technician_fk REFERENCES technicians (id),
    ADD COLUMN locked boolean NOT NULL DEFAULT false,
    ADD COLUMN required_parts jsonb
        CONSTRAINT work_orders_required_parts_ck CHECK (required_parts IS NULL OR jsonb_typeof(required_parts) = 'object');

-- Breaks in the technician's local time of day, e.g. [{"start": "12:00", "minutes": 30}]; shift_start/shift_end
-- (foundation) bound the working day.
ALTER TABLE technicians
    ADD COLUMN breaks jsonb NOT NULL DEFAULT '[]'
        CONSTRAINT technicians_breaks_ck CHECK (jsonb_typeof(breaks) = 'array');

CREATE TABLE plans (
    id             bigint GENERATED ALWAYS AS IDENTITY CONSTRAINT plans_pk PRIMARY KEY,
    created_at     timestamptz NOT NULL,
    trigger        text NOT NULL,
    planner        text NOT NULL CONSTRAINT plans_planner_ck CHECK (planner IN ('optimiser', 'nearest')),
    objective      double precision,
    kpis           jsonb NOT NULL DEFAULT '{}',
    inputs         jsonb NOT NULL DEFAULT '{}',
    solve_seconds  double precision NOT NULL DEFAULT 0,
    is_current     boolean NOT NULL DEFAULT false
);
-- Exactly one current plan; older plans stay for audit until pruned.
CREATE UNIQUE INDEX plans_current_uq ON plans (is_current) WHERE is_current;
CREATE INDEX plans_created_ix ON plans (created_at DESC);

CREATE TABLE plan_stops (
    plan_id            bigint NOT NULL CONSTRAINT plan_stops_plan_fk REFERENCES plans (id) ON DELETE CASCADE,
    technician_id      bigint NOT NULL CONSTRAINT plan_stops_technician_fk REFERENCES technicians (id),
    seq                integer NOT NULL CONSTRAINT plan_stops_seq_ck CHECK (seq >= 0),
    kind               text NOT NULL CONSTRAINT plan_stops_kind_ck CHECK (kind IN ('job', 'pickup')),
    work_order_id      bigint CONSTRAINT plan_stops_work_order_fk REFERENCES work_orders (id),
    stock_location_id  bigint,  -- stock_locations.id: no FK, spares' tables come later (0400) in the order
    skus               jsonb NOT NULL DEFAULT '{}',
    eta                timestamptz NOT NULL,
    start_at           timestamptz NOT NULL,
    end_at             timestamptz NOT NULL,
    CONSTRAINT plan_stops_pk PRIMARY KEY (plan_id, technician_id, seq),
    -- A pick-up names the job it collects parts for and the depot; a job stop names only its work order.
    CONSTRAINT plan_stops_target_ck CHECK (
        (kind = 'job' AND work_order_id IS NOT NULL AND stock_location_id IS NULL) OR
        (kind = 'pickup' AND work_order_id IS NOT NULL AND stock_location_id IS NOT NULL)),
    CONSTRAINT plan_stops_times_ck CHECK (eta <= start_at AND start_at <= end_at)
);
CREATE INDEX plan_stops_work_order_ix ON plan_stops (work_order_id);

-- Jobs the plan could not serve, with the reason (shown on the board, recorded on the timeline).
CREATE TABLE plan_drops (
    plan_id        bigint NOT NULL CONSTRAINT plan_drops_plan_fk REFERENCES plans (id) ON DELETE CASCADE,
    work_order_id  bigint NOT NULL CONSTRAINT plan_drops_work_order_fk REFERENCES work_orders (id),
    reason         text NOT NULL,
    CONSTRAINT plan_drops_pk PRIMARY KEY (plan_id, work_order_id)
);
CREATE INDEX plan_drops_work_order_ix ON plan_drops (work_order_id);

-- Change counter: every committed change to what the planner reads bumps it (transactionally, so a reader
-- that sees the new value also sees the change). The dispatch loop's own writes set
-- quietfix.dispatch_writer = 'on' locally and do not count, so applying a plan does not trigger a re-plan.
CREATE TABLE dispatch_cursor (
    id       smallint CONSTRAINT dispatch_cursor_pk PRIMARY KEY CONSTRAINT dispatch_cursor_one_ck CHECK (id = 1),
    changes  bigint NOT NULL DEFAULT 0
);
INSERT INTO dispatch_cursor (id, changes) VALUES (1, 0);

CREATE FUNCTION dispatch_bump_cursor() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF coalesce(current_setting('quietfix.dispatch_writer', true), '') <> 'on' THEN
        UPDATE dispatch_cursor SET changes = changes + 1 WHERE id = 1;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER work_orders_dispatch_ins_trg AFTER INSERT OR DELETE ON work_orders
    FOR EACH STATEMENT EXECUTE FUNCTION dispatch_bump_cursor();
CREATE TRIGGER work_orders_dispatch_upd_trg AFTER UPDATE ON work_orders
    FOR EACH ROW WHEN (OLD.* IS DISTINCT FROM NEW.*) EXECUTE FUNCTION dispatch_bump_cursor();
CREATE TRIGGER technicians_dispatch_ins_trg AFTER INSERT OR DELETE ON technicians
    FOR EACH STATEMENT EXECUTE FUNCTION dispatch_bump_cursor();
CREATE TRIGGER technicians_dispatch_upd_trg AFTER UPDATE ON technicians
    FOR EACH ROW WHEN (OLD.* IS DISTINCT FROM NEW.*) EXECUTE FUNCTION dispatch_bump_cursor();

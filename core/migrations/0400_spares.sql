-- Spares: parts catalogue, stock locations (warehouse / depot / van), stock levels, the stock ledger,
-- reservations for work orders, and shipments (courier or transfer).
-- Work orders, technicians and sites are referred to by plain ids and coordinates, WITHOUT foreign keys for now:
-- the foundation tables are written in parallel; a later migration in this block (04xx) adds the keys.

CREATE TABLE parts (
    sku              text CONSTRAINT parts_pk PRIMARY KEY,
    description      text NOT NULL,
    equipment_types  text[] NOT NULL DEFAULT '{}'
                     CONSTRAINT parts_equipment_types_ck
                     CHECK (equipment_types <@ ARRAY['pump', 'chiller', 'compressor']::text[]),
    unit_cost        numeric(12, 2) NOT NULL CONSTRAINT parts_unit_cost_ck CHECK (unit_cost >= 0),
    weight_kg        numeric(10, 3) NOT NULL CONSTRAINT parts_weight_ck CHECK (weight_kg >= 0)
);

CREATE TABLE stock_locations (
    id             bigint GENERATED ALWAYS AS IDENTITY CONSTRAINT stock_locations_pk PRIMARY KEY,
    kind           text NOT NULL CONSTRAINT stock_locations_kind_ck CHECK (kind IN ('warehouse', 'depot', 'van')),
    name           text NOT NULL,
    lat            double precision NOT NULL,
    lon            double precision NOT NULL,
    technician_id  bigint,  -- technicians.id, no FK yet (see header)
    CONSTRAINT stock_locations_van_owner_ck CHECK ((kind = 'van') = (technician_id IS NOT NULL))
);
-- A technician has one van.
CREATE UNIQUE INDEX stock_locations_van_technician_uq ON stock_locations (technician_id) WHERE kind = 'van';

CREATE TABLE stock_levels (
    location_id  bigint NOT NULL CONSTRAINT stock_levels_location_fk REFERENCES stock_locations (id),
    sku          text NOT NULL CONSTRAINT stock_levels_part_fk REFERENCES parts (sku),
    on_hand      integer NOT NULL DEFAULT 0 CONSTRAINT stock_levels_on_hand_ck CHECK (on_hand >= 0),
    reserved     integer NOT NULL DEFAULT 0 CONSTRAINT stock_levels_reserved_ck CHECK (reserved >= 0),
    in_transit   integer NOT NULL DEFAULT 0 CONSTRAINT stock_levels_in_transit_ck CHECK (in_transit >= 0),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT stock_levels_pk PRIMARY KEY (location_id, sku),
    CONSTRAINT stock_levels_reserved_le_on_hand_ck CHECK (reserved <= on_hand)
);
CREATE INDEX stock_levels_sku_ix ON stock_levels (sku);

CREATE TABLE reservations (
    id             bigint GENERATED ALWAYS AS IDENTITY CONSTRAINT reservations_pk PRIMARY KEY,
    work_order_id  bigint NOT NULL,  -- work_orders.id, no FK yet (see header)
    location_id    bigint NOT NULL CONSTRAINT reservations_location_fk REFERENCES stock_locations (id),
    sku            text NOT NULL CONSTRAINT reservations_part_fk REFERENCES parts (sku),
    qty            integer NOT NULL CONSTRAINT reservations_qty_ck CHECK (qty > 0),
    status         text NOT NULL DEFAULT 'active'
                   CONSTRAINT reservations_status_ck CHECK (status IN ('active', 'released', 'consumed')),
    created_at     timestamptz NOT NULL,
    closed_at      timestamptz,
    CONSTRAINT reservations_closed_ck CHECK ((status = 'active') = (closed_at IS NULL))
);
CREATE INDEX reservations_work_order_ix ON reservations (work_order_id);
CREATE INDEX reservations_active_ix ON reservations (location_id, sku) WHERE status = 'active';

CREATE TABLE shipments (
    id                bigint GENERATED ALWAYS AS IDENTITY CONSTRAINT shipments_pk PRIMARY KEY,
    sku               text NOT NULL CONSTRAINT shipments_part_fk REFERENCES parts (sku),
    qty               integer NOT NULL CONSTRAINT shipments_qty_ck CHECK (qty > 0),
    from_location_id  bigint NOT NULL CONSTRAINT shipments_from_fk REFERENCES stock_locations (id),
    to_location_id    bigint CONSTRAINT shipments_to_fk REFERENCES stock_locations (id),
    to_technician_id  bigint,  -- technicians.id, no FK yet (see header)
    to_lat            double precision,
    to_lon            double precision,
    work_order_id     bigint,  -- work_orders.id, no FK yet (see header)
    status            text NOT NULL DEFAULT 'planned'
                      CONSTRAINT shipments_status_ck
                      CHECK (status IN ('planned', 'picked', 'in_transit', 'delivered', 'cancelled')),
    same_day          boolean NOT NULL DEFAULT false,
    shipped_at        timestamptz NOT NULL,
    eta               timestamptz NOT NULL,
    delivered_at      timestamptz,
    CONSTRAINT shipments_site_ck CHECK ((to_lat IS NULL) = (to_lon IS NULL)),
    CONSTRAINT shipments_one_destination_ck
        CHECK (num_nonnulls(to_location_id, to_technician_id, to_lat) = 1),
    CONSTRAINT shipments_eta_ck CHECK (eta >= shipped_at),
    CONSTRAINT shipments_delivered_ck CHECK ((status = 'delivered') = (delivered_at IS NOT NULL))
);
CREATE INDEX shipments_open_ix ON shipments (status, eta) WHERE status IN ('planned', 'picked', 'in_transit');
CREATE INDEX shipments_work_order_ix ON shipments (work_order_id);

-- Append-only: one row per accepted movement, with the deltas it applied (the levels are their running sum).
CREATE TABLE stock_ledger (
    id              bigint GENERATED ALWAYS AS IDENTITY CONSTRAINT stock_ledger_pk PRIMARY KEY,
    at              timestamptz NOT NULL,
    location_id     bigint NOT NULL,
    sku             text NOT NULL,
    kind            text NOT NULL CONSTRAINT stock_ledger_kind_ck CHECK (kind IN ('receipt', 'adjust_up',
                        'adjust_down', 'reserve', 'release', 'consume', 'issue', 'return', 'ship_out',
                        'transit_in', 'deliver', 'transit_cancel')),
    qty             integer NOT NULL CONSTRAINT stock_ledger_qty_ck CHECK (qty > 0),
    d_on_hand       integer NOT NULL,
    d_reserved      integer NOT NULL,
    d_in_transit    integer NOT NULL,
    work_order_id   bigint,  -- work_orders.id, no FK yet (see header)
    reservation_id  bigint CONSTRAINT stock_ledger_reservation_fk REFERENCES reservations (id),
    shipment_id     bigint CONSTRAINT stock_ledger_shipment_fk REFERENCES shipments (id),
    note            text NOT NULL DEFAULT '',
    CONSTRAINT stock_ledger_level_fk FOREIGN KEY (location_id, sku) REFERENCES stock_levels (location_id, sku)
);
CREATE INDEX stock_ledger_level_ix ON stock_ledger (location_id, sku, id);
CREATE INDEX stock_ledger_work_order_ix ON stock_ledger (work_order_id) WHERE work_order_id IS NOT NULL;

-- Replenishment that is acted on (issue #16 item 4): the suggestions of spares.service.replenishment/transfers
-- become orders a dispatcher approves or rejects on the spares page, and goods are received into the ledger.
--   purchase: from a supplier into a location (from_location_id NULL); received = one 'receipt' ledger entry.
--   transfer: from one stock location to another; approving it picks a shipment (stock leaves the source and
--             shows in transit at the destination); received = the shipment delivered ('deliver' entry).
-- One open (proposed or approved) order per kind, route and SKU: re-proposing does not duplicate it.
CREATE TABLE replenishment_orders (
    id                bigint GENERATED ALWAYS AS IDENTITY CONSTRAINT replenishment_orders_pk PRIMARY KEY,
    kind              text NOT NULL CONSTRAINT replenishment_orders_kind_ck CHECK (kind IN ('purchase', 'transfer')),
    from_location_id  bigint CONSTRAINT replenishment_orders_from_fk REFERENCES stock_locations (id),
    to_location_id    bigint NOT NULL CONSTRAINT replenishment_orders_to_fk REFERENCES stock_locations (id),
    sku               text NOT NULL CONSTRAINT replenishment_orders_part_fk REFERENCES parts (sku),
    qty               integer NOT NULL CONSTRAINT replenishment_orders_qty_ck CHECK (qty > 0),
    unit_cost         numeric(12, 2) NOT NULL,
    status            text NOT NULL DEFAULT 'proposed' CONSTRAINT replenishment_orders_status_ck
                      CHECK (status IN ('proposed', 'approved', 'rejected', 'received')),
    -- the suggestion's figures when it was proposed (position, reorder point, base stock, demand)
    basis             jsonb NOT NULL DEFAULT '{}',
    proposed_at       timestamptz NOT NULL,
    proposed_by       text NOT NULL,
    decided_at        timestamptz,
    decided_by        text,
    received_at       timestamptz,
    received_by       text,
    received_qty      integer CONSTRAINT replenishment_orders_received_qty_ck CHECK (received_qty > 0),
    shipment_id       bigint CONSTRAINT replenishment_orders_shipment_fk REFERENCES shipments (id),
    CONSTRAINT replenishment_orders_route_ck
        CHECK ((kind = 'purchase') = (from_location_id IS NULL) AND from_location_id IS DISTINCT FROM to_location_id),
    CONSTRAINT replenishment_orders_decided_ck CHECK ((status = 'proposed') = (decided_at IS NULL)),
    CONSTRAINT replenishment_orders_received_ck CHECK ((status = 'received') = (received_at IS NOT NULL)),
    CONSTRAINT replenishment_orders_transfer_shipment_ck
        CHECK (kind = 'purchase' OR status IN ('proposed', 'rejected') OR shipment_id IS NOT NULL)
);
CREATE UNIQUE INDEX replenishment_orders_open_uq
    ON replenishment_orders (kind, coalesce(from_location_id, 0), to_location_id, sku)
    WHERE status IN ('proposed', 'approved');
CREATE INDEX replenishment_orders_status_ix ON replenishment_orders (status, id);

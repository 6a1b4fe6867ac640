-- Spares in the live flow (block 0410-0429 belongs to spares/): which source a reservation serves (the
-- technician's van, a depot pick-up, or a courier shipment to the site), and the dispatchers' out-of-stock alerts.

-- A reservation made for a dispatch plan records how the plan gets the part to the job: "van" (the assigned
-- technician's van), "depot" (a pick-up stop on the route), "courier" (a shipment from this location to the
-- site; shipment_id names it). technician_id is the technician the plan gave the job when it was reserved, so a
-- re-plan that moves the job releases and reserves again. NULL for manual reservations.
ALTER TABLE reservations
    ADD COLUMN source_kind text
        CONSTRAINT reservations_source_kind_ck CHECK (source_kind IN ('van', 'depot', 'courier')),
    ADD COLUMN technician_id bigint CONSTRAINT reservations_technician_fk REFERENCES technicians (id),
    ADD COLUMN shipment_id bigint CONSTRAINT reservations_shipment_fk REFERENCES shipments (id),
    ADD CONSTRAINT reservations_courier_shipment_ck CHECK ((source_kind = 'courier') = (shipment_id IS NOT NULL));
CREATE INDEX reservations_shipment_ix ON reservations (shipment_id) WHERE shipment_id IS NOT NULL;

-- A part an open incident's work order needs that no stock location within reach holds. One row per incident and
-- SKU: dispatchers are told once, not on every re-plan. acknowledged_at is set from the board.
CREATE TABLE spares_alerts (
    id               bigint GENERATED ALWAYS AS IDENTITY CONSTRAINT spares_alerts_pk PRIMARY KEY,
    incident_id      bigint NOT NULL CONSTRAINT spares_alerts_incident_fk REFERENCES incidents (id),
    work_order_id    bigint NOT NULL CONSTRAINT spares_alerts_work_order_fk REFERENCES work_orders (id),
    sku              text NOT NULL CONSTRAINT spares_alerts_part_fk REFERENCES parts (sku),
    needed           integer NOT NULL CONSTRAINT spares_alerts_needed_ck CHECK (needed > 0),
    available        integer NOT NULL CONSTRAINT spares_alerts_available_ck CHECK (available >= 0),
    created_at       timestamptz NOT NULL,
    acknowledged_at  timestamptz,
    acknowledged_by  text,
    CONSTRAINT spares_alerts_incident_sku_uq UNIQUE (incident_id, sku)
);
CREATE INDEX spares_alerts_open_ix ON spares_alerts (created_at) WHERE acknowledged_at IS NULL;

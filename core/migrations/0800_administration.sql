-- Administration (issue #15; block 0800-0829): master data an installing organisation enters itself.
-- Natural keys (customer/site/contract/technician codes, asset serials) are what `quietfix import` upserts on.
-- Languages and IANA time zones are stored on customers, technicians and users now so that later work can show
-- every time in the viewer's zone (#15 item 4).

-- Customers: a code (natural key), phone, contacts, language and time zone. Rows created without a code (older
-- seeds) get "C" + their id, so the key is never missing. A customer's location lives on its sites now.
ALTER TABLE customers
    ADD COLUMN code     text,
    ADD COLUMN phone    text,
    ADD COLUMN contacts jsonb NOT NULL DEFAULT '[]'
        CONSTRAINT customers_contacts_ck CHECK (jsonb_typeof(contacts) = 'array'),
    ADD COLUMN language text NOT NULL DEFAULT 'en',
    ADD COLUMN timezone text NOT NULL DEFAULT 'UTC',
    ALTER COLUMN lat DROP NOT NULL,
    ALTER COLUMN lon DROP NOT NULL;
UPDATE customers SET code = 'C' || lpad(id::text, 5, '0') WHERE code IS NULL;

CREATE FUNCTION customers_default_code() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.code IS NULL THEN
        NEW.code := 'C' || lpad(NEW.id::text, 5, '0');
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER customers_default_code_trg BEFORE INSERT ON customers
    FOR EACH ROW EXECUTE FUNCTION customers_default_code();
ALTER TABLE customers ALTER COLUMN code SET NOT NULL,
    ADD CONSTRAINT customers_code_uq UNIQUE (code);

-- A site is where a customer's equipment stands: the address a technician drives to, and when they may enter
-- (access hours in the customer's time zone, the same day/window model as contract coverage).
CREATE TABLE sites (
    id           bigint GENERATED ALWAYS AS IDENTITY CONSTRAINT sites_pk PRIMARY KEY,
    code         text NOT NULL CONSTRAINT sites_code_uq UNIQUE,
    customer_id  bigint NOT NULL CONSTRAINT sites_customer_fk REFERENCES customers (id),
    name         text NOT NULL,
    address      text NOT NULL DEFAULT '',
    lat          double precision NOT NULL CONSTRAINT sites_lat_ck CHECK (lat BETWEEN -90 AND 90),
    lon          double precision NOT NULL CONSTRAINT sites_lon_ck CHECK (lon BETWEEN -180 AND 180),
    access_days  smallint[] NOT NULL DEFAULT '{1,2,3,4,5,6,7}',
    access_start time NOT NULL DEFAULT '00:00',
    access_end   time NOT NULL DEFAULT '24:00',
    created_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT sites_access_ck CHECK (access_end > access_start)
);
CREATE INDEX sites_customer_ix ON sites (customer_id);

-- A device (the connected gateway, MQTT identity) may stand on a site. Decision: the site owns the location;
-- linking a device to an asset on a site copies the site's customer and lat/lon onto the device row, because
-- ingest, diagnostics and dispatch read devices.customer_id/lat/lon and must keep working unchanged.
ALTER TABLE devices ADD COLUMN site_id bigint CONSTRAINT devices_site_fk REFERENCES sites (id);
CREATE INDEX devices_site_ix ON devices (site_id) WHERE site_id IS NOT NULL;

-- An asset is the piece of equipment (serial, model, installed on); at most one device watches it.
CREATE TABLE assets (
    id             bigint GENERATED ALWAYS AS IDENTITY CONSTRAINT assets_pk PRIMARY KEY,
    serial         text NOT NULL CONSTRAINT assets_serial_uq UNIQUE,
    site_id        bigint NOT NULL CONSTRAINT assets_site_fk REFERENCES sites (id),
    equipment_type text NOT NULL,
    model          text NOT NULL DEFAULT '',
    installed_on   date,
    device_id      text CONSTRAINT assets_device_fk REFERENCES devices (id)
                   CONSTRAINT assets_device_uq UNIQUE,
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX assets_site_ix ON assets (site_id);

-- Technicians: contact, language and zone, van, home base name, and a weekly working pattern with breaks:
-- {"1": [{"start": "08:00", "end": "17:00", "breaks": [{"start": "12:00", "minutes": 30}]}], ...} by ISO weekday.
-- shift_start/shift_end/breaks (read by dispatch) stay the pattern's typical day.
ALTER TABLE technicians
    ADD COLUMN email           text,
    ADD COLUMN language        text NOT NULL DEFAULT 'en',
    ADD COLUMN timezone        text NOT NULL DEFAULT 'UTC',
    ADD COLUMN van             text,
    ADD COLUMN home_base       text,
    ADD COLUMN working_pattern jsonb NOT NULL DEFAULT '{}'
        CONSTRAINT technicians_working_pattern_ck CHECK (jsonb_typeof(working_pattern) = 'object');

-- Absences and holidays: the technician is off for [starts_at, ends_at).
CREATE TABLE technician_absences (
    id            bigint GENERATED ALWAYS AS IDENTITY CONSTRAINT technician_absences_pk PRIMARY KEY,
    technician_id bigint NOT NULL CONSTRAINT technician_absences_technician_fk REFERENCES technicians (id)
                  ON DELETE CASCADE,
    kind          text NOT NULL CONSTRAINT technician_absences_kind_ck
                  CHECK (kind IN ('holiday', 'sick', 'training', 'absence')),
    starts_at     timestamptz NOT NULL,
    ends_at       timestamptz NOT NULL,
    note          text NOT NULL DEFAULT '',
    created_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT technician_absences_span_ck CHECK (ends_at > starts_at)
);
CREATE INDEX technician_absences_technician_ix ON technician_absences (technician_id, starts_at);

-- Users: disabled accounts cannot sign in; language and zone for the pages they see.
ALTER TABLE users
    ADD COLUMN disabled  boolean NOT NULL DEFAULT false,
    ADD COLUMN email     text,
    ADD COLUMN language  text NOT NULL DEFAULT 'en',
    ADD COLUMN timezone  text NOT NULL DEFAULT 'UTC';

-- Problems customers report from the portal may carry a photo; stored apart from the evidence JSON.
CREATE TABLE incident_photos (
    id          bigint GENERATED ALWAYS AS IDENTITY CONSTRAINT incident_photos_pk PRIMARY KEY,
    incident_id bigint NOT NULL CONSTRAINT incident_photos_incident_fk REFERENCES incidents (id),
    media_type  text NOT NULL,
    data        bytea NOT NULL,
    bytes       integer NOT NULL,
    sha256      text NOT NULL,
    created_at  timestamptz NOT NULL
);
CREATE INDEX incident_photos_incident_ix ON incident_photos (incident_id);

-- Planning-relevant master data wakes the dispatch loop at once: its change counter (migration 0300) is bumped
-- in the same transaction as an absence, a site or a contract change (technicians already bump it).
CREATE TRIGGER technician_absences_dispatch_trg AFTER INSERT OR UPDATE OR DELETE ON technician_absences
    FOR EACH STATEMENT EXECUTE FUNCTION dispatch_bump_cursor();
CREATE TRIGGER sites_dispatch_trg AFTER INSERT OR UPDATE OR DELETE ON sites
    FOR EACH STATEMENT EXECUTE FUNCTION dispatch_bump_cursor();
CREATE TRIGGER contracts_dispatch_trg AFTER INSERT OR UPDATE OR DELETE ON contracts
    FOR EACH STATEMENT EXECUTE FUNCTION dispatch_bump_cursor();

-- Administration: master data upserted on natural keys. Each upsert returns the stored row as JSON (for the
-- audit's before/after) and whether it inserted; an update that changes nothing returns no row.

-- name: customer_by_code
SELECT id, to_jsonb(c) - 'created_at' AS row FROM customers c WHERE code = %(code)s FOR UPDATE;

-- name: upsert_customer
INSERT INTO customers AS c (code, name, tier, email, phone, language, timezone, contacts)
VALUES (%(code)s, %(name)s, %(tier)s, %(email)s, %(phone)s, %(language)s, %(timezone)s, coalesce(%(contacts)s::jsonb, '[]'))
ON CONFLICT ON CONSTRAINT customers_code_uq DO UPDATE
SET name = EXCLUDED.name, tier = EXCLUDED.tier, email = EXCLUDED.email, phone = EXCLUDED.phone,
    language = EXCLUDED.language, timezone = EXCLUDED.timezone,
    contacts = coalesce(%(contacts)s::jsonb, c.contacts)
WHERE (c.name, c.tier, c.email, c.phone, c.language, c.timezone, c.contacts)
      IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.tier, EXCLUDED.email, EXCLUDED.phone, EXCLUDED.language,
                        EXCLUDED.timezone, coalesce(%(contacts)s::jsonb, c.contacts))
RETURNING c.id, (xmax = 0) AS inserted, to_jsonb(c) - 'created_at' AS row;

-- name: customer_ids
SELECT code, id FROM customers WHERE code = ANY(%(codes)s);

-- name: list_customers
SELECT id, code, name, tier, email, phone, contacts, language, timezone,
       (SELECT count(*) FROM sites s WHERE s.customer_id = c.id) AS sites
FROM customers c ORDER BY code LIMIT %(limit)s;

-- name: site_by_code
SELECT id, to_jsonb(s) - 'created_at' AS row FROM sites s WHERE code = %(code)s FOR UPDATE;

-- name: upsert_site
INSERT INTO sites AS s (code, customer_id, name, address, lat, lon, access_days, access_start, access_end)
VALUES (%(code)s, %(customer_id)s, %(name)s, %(address)s, %(lat)s, %(lon)s, %(access_days)s, %(access_start)s,
        %(access_end)s)
ON CONFLICT ON CONSTRAINT sites_code_uq DO UPDATE
SET customer_id = EXCLUDED.customer_id, name = EXCLUDED.name, address = EXCLUDED.address, lat = EXCLUDED.lat,
    lon = EXCLUDED.lon, access_days = EXCLUDED.access_days, access_start = EXCLUDED.access_start,
    access_end = EXCLUDED.access_end
WHERE (s.customer_id, s.name, s.address, s.lat, s.lon, s.access_days, s.access_start, s.access_end)
      IS DISTINCT FROM (EXCLUDED.customer_id, EXCLUDED.name, EXCLUDED.address, EXCLUDED.lat, EXCLUDED.lon,
                        EXCLUDED.access_days, EXCLUDED.access_start, EXCLUDED.access_end)
RETURNING s.id, (xmax = 0) AS inserted, to_jsonb(s) - 'created_at' AS row;

-- name: follow_site
-- Devices on a site stand where the site is and belong to its customer (ingest, diagnostics and dispatch read
-- devices.customer_id/lat/lon).
UPDATE devices d SET customer_id = s.customer_id, lat = s.lat, lon = s.lon
FROM sites s WHERE s.id = %(site_id)s AND d.site_id = s.id
  AND (d.customer_id, d.lat, d.lon) IS DISTINCT FROM (s.customer_id, s.lat, s.lon);

-- name: site_ids
SELECT code, id, customer_id FROM sites WHERE code = ANY(%(codes)s);

-- name: list_sites
SELECT s.id, s.code, c.code AS customer_code, s.name, s.address, s.lat, s.lon, s.access_days,
       s.access_start::text AS access_start, s.access_end::text AS access_end,
       (SELECT count(*) FROM assets a WHERE a.site_id = s.id) AS assets
FROM sites s JOIN customers c ON c.id = s.customer_id
WHERE (%(customer_id)s::bigint IS NULL OR s.customer_id = %(customer_id)s)
ORDER BY s.code LIMIT %(limit)s;

-- name: asset_by_serial
SELECT id, to_jsonb(a) - 'created_at' AS row FROM assets a WHERE serial = %(serial)s FOR UPDATE;

-- name: asset_of_device
SELECT serial FROM assets WHERE device_id = %(device_id)s;

-- name: upsert_asset
INSERT INTO assets AS a (serial, site_id, equipment_type, model, installed_on, device_id)
VALUES (%(serial)s, %(site_id)s, %(equipment_type)s, %(model)s, %(installed_on)s, %(device_id)s)
ON CONFLICT ON CONSTRAINT assets_serial_uq DO UPDATE
SET site_id = EXCLUDED.site_id, equipment_type = EXCLUDED.equipment_type, model = EXCLUDED.model,
    installed_on = EXCLUDED.installed_on, device_id = EXCLUDED.device_id
WHERE (a.site_id, a.equipment_type, a.model, a.installed_on, a.device_id)
      IS DISTINCT FROM (EXCLUDED.site_id, EXCLUDED.equipment_type, EXCLUDED.model, EXCLUDED.installed_on,
                        EXCLUDED.device_id)
RETURNING a.id, (xmax = 0) AS inserted, to_jsonb(a) - 'created_at' AS row;

-- name: device_by_id
SELECT id, to_jsonb(d) - 'created_at' - 'online' - 'last_seen' - 'status_changed_at' AS row
FROM devices d WHERE id = %(device_id)s FOR UPDATE;

-- name: upsert_device
-- The device row for an asset's gateway: created on first mention, then kept on its site's customer and place.
INSERT INTO devices AS d (id, customer_id, equipment_type, name, lat, lon, site_id)
SELECT %(device_id)s, s.customer_id, %(equipment_type)s, %(name)s, s.lat, s.lon, s.id FROM sites s WHERE s.id = %(site_id)s
ON CONFLICT ON CONSTRAINT devices_pk DO UPDATE
SET customer_id = EXCLUDED.customer_id, equipment_type = EXCLUDED.equipment_type, lat = EXCLUDED.lat,
    lon = EXCLUDED.lon, site_id = EXCLUDED.site_id
WHERE (d.customer_id, d.equipment_type, d.lat, d.lon, d.site_id)
      IS DISTINCT FROM (EXCLUDED.customer_id, EXCLUDED.equipment_type, EXCLUDED.lat, EXCLUDED.lon, EXCLUDED.site_id)
RETURNING d.id, (xmax = 0) AS inserted,
          to_jsonb(d) - 'created_at' - 'online' - 'last_seen' - 'status_changed_at' AS row;

-- name: list_assets
SELECT a.id, a.serial, s.code AS site_code, c.code AS customer_code, a.equipment_type, a.model, a.installed_on,
       a.device_id, d.online, d.last_seen
FROM assets a JOIN sites s ON s.id = a.site_id JOIN customers c ON c.id = s.customer_id
LEFT JOIN devices d ON d.id = a.device_id
WHERE (%(customer_id)s::bigint IS NULL OR s.customer_id = %(customer_id)s)
ORDER BY a.serial LIMIT %(limit)s;

-- name: list_devices
SELECT d.id, c.code AS customer_code, s.code AS site_code, a.serial AS asset_serial, d.equipment_type, d.name,
       d.online, d.last_seen
FROM devices d JOIN customers c ON c.id = d.customer_id LEFT JOIN sites s ON s.id = d.site_id
LEFT JOIN assets a ON a.device_id = d.id ORDER BY d.id LIMIT %(limit)s;

-- name: technician_by_code
SELECT id, to_jsonb(t) - 'lat' - 'lon' - 'state' AS row FROM technicians t WHERE code = %(code)s FOR UPDATE;

-- name: upsert_technician
INSERT INTO technicians AS t (code, name, email, skills, home_lat, home_lon, lat, lon, shift_start, shift_end,
                              working_pattern, timezone, language, van, home_base)
VALUES (%(code)s, %(name)s, %(email)s, %(skills)s, %(home_lat)s, %(home_lon)s, %(home_lat)s, %(home_lon)s,
        %(shift_start)s, %(shift_end)s, %(working_pattern)s, %(timezone)s, %(language)s, %(van)s, %(home_base)s)
ON CONFLICT ON CONSTRAINT technicians_code_uq DO UPDATE
SET name = EXCLUDED.name, email = EXCLUDED.email, skills = EXCLUDED.skills, home_lat = EXCLUDED.home_lat,
    home_lon = EXCLUDED.home_lon, shift_start = EXCLUDED.shift_start, shift_end = EXCLUDED.shift_end,
    working_pattern = EXCLUDED.working_pattern, timezone = EXCLUDED.timezone, language = EXCLUDED.language,
    van = coalesce(EXCLUDED.van, t.van), home_base = coalesce(EXCLUDED.home_base, t.home_base)
WHERE (t.name, t.email, t.skills, t.home_lat, t.home_lon, t.shift_start, t.shift_end, t.working_pattern,
       t.timezone, t.language, t.van, t.home_base)
      IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.email, EXCLUDED.skills, EXCLUDED.home_lat, EXCLUDED.home_lon,
                        EXCLUDED.shift_start, EXCLUDED.shift_end, EXCLUDED.working_pattern, EXCLUDED.timezone,
                        EXCLUDED.language, coalesce(EXCLUDED.van, t.van), coalesce(EXCLUDED.home_base, t.home_base))
RETURNING t.id, (xmax = 0) AS inserted, to_jsonb(t) - 'lat' - 'lon' - 'state' AS row;

-- name: set_pattern
UPDATE technicians SET working_pattern = %(pattern)s, shift_start = %(shift_start)s, shift_end = %(shift_end)s,
       breaks = %(breaks)s
WHERE id = %(id)s
RETURNING to_jsonb(technicians) - 'lat' - 'lon' - 'state' AS row;

-- name: list_technicians
SELECT t.id, t.code, t.name, t.email, t.skills, t.home_lat, t.home_lon, t.shift_start::text AS shift_start,
       t.shift_end::text AS shift_end, t.breaks, t.working_pattern, t.timezone, t.language, t.van, t.home_base,
       t.state, (SELECT u.username FROM users u WHERE u.technician_id = t.id ORDER BY u.id LIMIT 1) AS username,
       coalesce((SELECT jsonb_agg(jsonb_build_object('id', a.id, 'kind', a.kind, 'starts_at', a.starts_at,
                                                     'ends_at', a.ends_at, 'note', a.note) ORDER BY a.starts_at)
                 FROM technician_absences a WHERE a.technician_id = t.id AND a.ends_at > %(now)s), '[]') AS absences
FROM technicians t ORDER BY t.code LIMIT %(limit)s;

-- name: technician_ids
SELECT code, id FROM technicians WHERE code = ANY(%(codes)s);

-- name: insert_absence
INSERT INTO technician_absences (technician_id, kind, starts_at, ends_at, note)
VALUES (%(technician_id)s, %(kind)s, %(starts_at)s, %(ends_at)s, %(note)s)
RETURNING id, to_jsonb(technician_absences) - 'created_at' AS row;

-- name: delete_absence
DELETE FROM technician_absences WHERE id = %(id)s AND technician_id = %(technician_id)s
RETURNING to_jsonb(technician_absences) - 'created_at' AS row;

-- name: contract_by_code
SELECT id, to_jsonb(k) AS row FROM contracts k WHERE code = %(code)s FOR UPDATE;

-- name: upsert_contract
INSERT INTO contracts AS k (code, customer_id, name, sla_tier, coverage_days, coverage_start, coverage_end,
                            response_min, onsite_min, repair_h, starts_on, ends_on)
VALUES (%(code)s, %(customer_id)s, %(name)s, %(tier)s, %(coverage_days)s, %(coverage_start)s, %(coverage_end)s,
        %(response_min)s, %(onsite_min)s, %(repair_h)s, %(starts_on)s, %(ends_on)s)
ON CONFLICT ON CONSTRAINT contracts_code_uq DO UPDATE
SET customer_id = EXCLUDED.customer_id, sla_tier = EXCLUDED.sla_tier, coverage_days = EXCLUDED.coverage_days,
    coverage_start = EXCLUDED.coverage_start, coverage_end = EXCLUDED.coverage_end,
    response_min = EXCLUDED.response_min, onsite_min = EXCLUDED.onsite_min, repair_h = EXCLUDED.repair_h,
    starts_on = EXCLUDED.starts_on, ends_on = EXCLUDED.ends_on
WHERE (k.customer_id, k.sla_tier, k.coverage_days, k.coverage_start, k.coverage_end, k.response_min, k.onsite_min,
       k.repair_h, k.starts_on, k.ends_on)
      IS DISTINCT FROM (EXCLUDED.customer_id, EXCLUDED.sla_tier, EXCLUDED.coverage_days, EXCLUDED.coverage_start,
                        EXCLUDED.coverage_end, EXCLUDED.response_min, EXCLUDED.onsite_min, EXCLUDED.repair_h,
                        EXCLUDED.starts_on, EXCLUDED.ends_on)
RETURNING k.id, (xmax = 0) AS inserted, to_jsonb(k) AS row;

-- name: list_contracts
-- pause_<kind>: the contract's own SLA pause rule (NULL: it follows its tier's default, tier_pause_<kind>).
SELECT k.id, k.code, c.code AS customer_code, k.name, k.sla_tier AS tier, k.coverage_days,
       k.coverage_start::text AS coverage_start, k.coverage_end::text AS coverage_end, k.response_min,
       k.onsite_min, k.repair_h, k.starts_on, k.ends_on,
       (SELECT r.pauses_sla FROM sla_pause_rules r WHERE r.contract_code = k.code AND r.kind = 'on_hold')
           AS pause_on_hold,
       (SELECT r.pauses_sla FROM sla_pause_rules r WHERE r.contract_code = k.code AND r.kind = 'awaiting_parts')
           AS pause_awaiting_parts,
       (SELECT r.pauses_sla FROM sla_pause_rules r WHERE r.contract_code = k.code AND r.kind = 'customer_window')
           AS pause_customer_window,
       (SELECT jsonb_object_agg(r.kind, r.pauses_sla) FROM sla_pause_rules r WHERE r.tier = k.sla_tier)
           AS tier_pauses
FROM contracts k JOIN customers c ON c.id = k.customer_id ORDER BY k.code LIMIT %(limit)s;

-- name: contract_pause_rules
-- A contract's own SLA pause rules (sla_pause_rules, migration 0350), locked for the change that reads them.
SELECT kind, pauses_sla FROM sla_pause_rules WHERE contract_code = %(code)s ORDER BY kind FOR UPDATE;

-- name: set_contract_pause_rule
INSERT INTO sla_pause_rules (contract_code, kind, pauses_sla) VALUES (%(code)s, %(kind)s, %(pauses)s)
ON CONFLICT (contract_code, kind) WHERE contract_code IS NOT NULL DO UPDATE SET pauses_sla = EXCLUDED.pauses_sla;

-- name: delete_contract_pause_rule
DELETE FROM sla_pause_rules WHERE contract_code = %(code)s AND kind = %(kind)s;

-- name: tier_pause_rules
SELECT tier, kind, pauses_sla FROM sla_pause_rules WHERE tier IS NOT NULL ORDER BY tier, kind FOR UPDATE;

-- name: set_tier_pause_rule
INSERT INTO sla_pause_rules (tier, kind, pauses_sla) VALUES (%(tier)s, %(kind)s, %(pauses)s)
ON CONFLICT (tier, kind) WHERE tier IS NOT NULL DO UPDATE SET pauses_sla = EXCLUDED.pauses_sla;

-- name: user_by_name
SELECT id, to_jsonb(u) - 'password_hash' AS row FROM users u WHERE username = %(username)s FOR UPDATE;

-- name: insert_user
INSERT INTO users (username, password_hash, role, customer_id, technician_id, email, language, timezone)
VALUES (%(username)s, %(password_hash)s, %(role)s, %(customer_id)s, %(technician_id)s, %(email)s, %(language)s,
        %(timezone)s)
RETURNING id, to_jsonb(users) - 'password_hash' AS row;

-- name: update_user
UPDATE users SET role = %(role)s, customer_id = %(customer_id)s, technician_id = %(technician_id)s,
       email = %(email)s, language = %(language)s, timezone = %(timezone)s
WHERE id = %(id)s RETURNING to_jsonb(users) - 'password_hash' AS row;

-- name: set_user_disabled
UPDATE users SET disabled = %(disabled)s WHERE id = %(id)s RETURNING to_jsonb(users) - 'password_hash' AS row;

-- name: set_user_password
UPDATE users SET password_hash = %(password_hash)s WHERE id = %(id)s;

-- name: list_users
SELECT u.id, u.username, u.role, c.code AS customer_code, t.code AS technician_code, u.email, u.language,
       u.timezone, u.disabled
FROM users u LEFT JOIN customers c ON c.id = u.customer_id LEFT JOIN technicians t ON t.id = u.technician_id
ORDER BY u.username LIMIT %(limit)s;

-- name: insert_audit
-- The audit row of a master-data change, in the change's own transaction (the same table api/audit.py writes).
INSERT INTO audit_log (at, actor, actor_user_id, actor_role, action, target_type, target_id, details, client_ip)
VALUES (%(at)s, %(actor)s, %(user_id)s, %(role)s, %(action)s, %(target_type)s, %(target_id)s, %(details)s,
        %(client_ip)s);

-- name: tier_defaults
SELECT response_min, onsite_min, repair_h FROM sla_tier_defaults WHERE tier = %(tier)s;

-- name: portal_asset
-- A customer's own asset with a device (a report is about equipment quietfix can send someone to).
SELECT a.serial, a.device_id, d.name, d.lat, d.lon, d.equipment_type, c.id AS customer_id, c.tier
FROM assets a JOIN sites s ON s.id = a.site_id JOIN customers c ON c.id = s.customer_id
JOIN devices d ON d.id = a.device_id
WHERE (a.serial = %(asset)s OR a.device_id = %(asset)s) AND c.id = %(customer_id)s
UNION ALL
SELECT NULL, d.id, d.name, d.lat, d.lon, d.equipment_type, c.id, c.tier
FROM devices d JOIN customers c ON c.id = d.customer_id
WHERE d.id = %(asset)s AND c.id = %(customer_id)s AND NOT EXISTS (SELECT 1 FROM assets a WHERE a.device_id = d.id)
LIMIT 1;

-- name: covering_contract
-- The contract covering a device at a moment: asset-level before customer-wide, then the latest start.
-- 24:00 (end of day) has no Python time: it is read as the last microsecond of the day.
SELECT k.code, k.sla_tier, k.coverage_days, k.coverage_start,
       CASE WHEN k.coverage_end = '24:00' THEN '23:59:59.999999'::time ELSE k.coverage_end END AS coverage_end,
       k.response_min, k.onsite_min,
       k.repair_h
FROM contracts k JOIN devices d ON d.customer_id = k.customer_id AND (k.device_id IS NULL OR k.device_id = d.id)
WHERE d.id = %(device_id)s AND k.starts_on <= %(day)s AND (k.ends_on IS NULL OR k.ends_on >= %(day)s)
ORDER BY (k.device_id IS NULL), k.starts_on DESC, k.id DESC LIMIT 1;

-- name: insert_incident_photo
INSERT INTO incident_photos (incident_id, media_type, data, bytes, sha256, created_at)
VALUES (%(incident_id)s, %(media_type)s, %(data)s, %(bytes)s, %(sha256)s, %(at)s) RETURNING id;

-- name: incident_photo
SELECT p.media_type, p.data FROM incident_photos p JOIN incidents i ON i.id = p.incident_id
WHERE p.id = %(id)s AND (%(customer_id)s::bigint IS NULL OR i.customer_id = %(customer_id)s);

-- name: mark_portal_source
-- diagnostics' insert defaults to 'telemetry'; the incident came from the customer portal.
UPDATE incidents SET source = 'portal' WHERE id = %(incident_id)s;

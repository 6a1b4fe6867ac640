-- Escalation tiers (block 0620-0639): roles for remote technical support and engineering, an idempotency key
-- for escalations raised from a phone's offline queue, and escalation photos stored out of the evidence.

-- Tier 2 (remote technical support) and tier 3 (engineering) sign in with their own roles. They are bound to
-- neither a customer nor a technician: what they see is decided per escalation (planning.escalation.ROLE_TIERS).
ALTER TABLE users DROP CONSTRAINT users_role_ck;
ALTER TABLE users ADD CONSTRAINT users_role_ck
    CHECK (role IN ('admin', 'dispatcher', 'technician', 'customer', 'support', 'engineering'));
ALTER TABLE users DROP CONSTRAINT users_scope_ck;
ALTER TABLE users ADD CONSTRAINT users_scope_ck CHECK (
    (role = 'customer' AND customer_id IS NOT NULL) OR
    (role = 'technician' AND technician_id IS NOT NULL) OR
    (role IN ('support', 'engineering') AND customer_id IS NULL AND technician_id IS NULL) OR
    role IN ('admin', 'dispatcher'));

-- A phone queues an escalation while offline and replays it later: the key it generated makes the replay
-- return the first escalation instead of opening a second one (NULL for escalations raised without a key).
ALTER TABLE escalations ADD COLUMN client_key uuid CONSTRAINT escalations_client_key_uq UNIQUE;

-- Photos attached to an escalation, out of the evidence JSON so queues stay light: the evidence lists
-- {id, media_type, bytes} and the API serves each photo from its own role-checked URL. A photo belongs to the
-- work order (an escalation to the next tier carries the same photo ids).
CREATE TABLE escalation_photos (
    id            bigint GENERATED ALWAYS AS IDENTITY CONSTRAINT escalation_photos_pk PRIMARY KEY,
    work_order_id bigint NOT NULL CONSTRAINT escalation_photos_work_order_fk REFERENCES work_orders (id),
    media_type    text NOT NULL,
    data          bytea NOT NULL,
    bytes         integer NOT NULL,
    sha256        text NOT NULL,
    created_at    timestamptz NOT NULL
);
CREATE INDEX escalation_photos_work_order_ix ON escalation_photos (work_order_id);

-- Existing escalations: inline data: URLs move into escalation_photos, other references become {"ref": ...}.
DO $$
DECLARE
    e record;
    p text;
    out jsonb;
    pid bigint;
    raw bytea;
    mt text;
BEGIN
    FOR e IN SELECT id, work_order_id, opened_at, evidence FROM escalations
             WHERE jsonb_typeof(evidence -> 'photos') = 'array' ORDER BY id LOOP
        out := '[]'::jsonb;
        FOR p IN SELECT jsonb_array_elements_text(e.evidence -> 'photos') LOOP
            IF p ~ '^data:image/(jpeg|png|webp|gif);base64,' THEN  -- the types the API accepts (no SVG)
                mt := substring(p FROM '^data:(image/(jpeg|png|webp|gif));base64,');
                raw := decode(split_part(p, ',', 2), 'base64');
                INSERT INTO escalation_photos (work_order_id, media_type, data, bytes, sha256, created_at)
                VALUES (e.work_order_id, mt, raw, length(raw), encode(sha256(raw), 'hex'), e.opened_at)
                RETURNING id INTO pid;
                out := out || jsonb_build_object('id', pid, 'media_type', mt, 'bytes', length(raw));
            ELSIF left(p, 1) = '{' THEN
                out := out || p::jsonb;
            ELSE
                out := out || jsonb_build_object('ref', p);
            END IF;
        END LOOP;
        UPDATE escalations SET evidence = jsonb_set(evidence, '{photos}', out) WHERE id = e.id;
    END LOOP;
END
$$;

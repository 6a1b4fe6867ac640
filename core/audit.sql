-- The audit log (table in migration 0520): every decision, by a person through the API or the CLI, or by a
-- process (the optimiser's assignments). Append-only: no UPDATE or DELETE anywhere.

-- name: insert_audit
INSERT INTO audit_log (at, actor, actor_user_id, actor_role, action, target_type, target_id, details, client_ip)
VALUES (%(at)s, %(actor)s, %(user_id)s, %(role)s, %(action)s, %(target_type)s, %(target_id)s, %(details)s,
        %(client_ip)s);

-- name: search_audit
-- Every filter is optional; the newest first. action_prefix matches 'command.' for every command action.
SELECT id, at, actor, actor_user_id, actor_role, action, target_type, target_id, details, client_ip
FROM audit_log
WHERE (%(actor)s::text IS NULL OR actor = %(actor)s)
  AND (%(action)s::text IS NULL OR action = %(action)s)
  AND (%(action_prefix)s::text IS NULL OR starts_with(action, %(action_prefix)s))
  AND (%(target_type)s::text IS NULL OR target_type = %(target_type)s)
  AND (%(target_id)s::text IS NULL OR target_id = %(target_id)s)
  AND (%(since)s::timestamptz IS NULL OR at >= %(since)s)
  AND (%(until)s::timestamptz IS NULL OR at < %(until)s)
ORDER BY at DESC, id DESC
LIMIT %(limit)s OFFSET %(offset)s;

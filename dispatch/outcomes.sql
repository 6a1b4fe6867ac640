-- name: fix_codes
SELECT code, label, fault_modes FROM fix_codes WHERE active ORDER BY sort_order, code;

-- name: fix_code_active
SELECT 1 FROM fix_codes WHERE code = %(code)s AND active;

-- name: set_outcome
UPDATE work_orders SET fix_code = coalesce(%(fix_code)s, fix_code),
                       found_fault_mode = coalesce(%(fault_mode)s, found_fault_mode)
WHERE id = %(id)s;

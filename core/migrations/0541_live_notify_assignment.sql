-- Live updates (issue #17 item 4, after 0540): a technician's and a customer's cursor also move when a work order
-- changes hands (its id enters or leaves that scope's maxima) even without a timeline event in the same
-- transaction (a re-plan's reassignment): notify on those updates too, and only on those.
CREATE TRIGGER work_orders_live_upd_trg AFTER UPDATE ON work_orders
    FOR EACH ROW WHEN ((OLD.technician_id, OLD.customer_id) IS DISTINCT FROM (NEW.technician_id, NEW.customer_id))
    EXECUTE FUNCTION live_notify();

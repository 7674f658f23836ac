-- One fault, one visit (issue 12, item 4): a dispatcher merges two open orders of one pile.
-- The merged order is cancelled with resolution 'merged' and points at the order that
-- carries on; its alarms moved there (maintenance/orders/desk.merge).
ALTER TABLE work_orders ADD COLUMN merged_into bigint REFERENCES work_orders (id);

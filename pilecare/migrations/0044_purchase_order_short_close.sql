-- A partially received purchase order the supplier will not complete is closed short by the
-- parts keeper (R-PARTS; docs/purchasing.md, "Closing an order short"): state closed_short,
-- with who, when and why. What was not delivered then counts as neither on order (purchase
-- proposals) nor committed spending (the parts-purchasing budget).
ALTER TABLE purchase_orders DROP CONSTRAINT purchase_orders_state_check;
ALTER TABLE purchase_orders ADD CONSTRAINT purchase_orders_state_check
    CHECK (state IN ('draft', 'ordered', 'partially_received', 'received', 'closed_short', 'cancelled'));
ALTER TABLE purchase_orders
    ADD COLUMN closed_by    text,
    ADD COLUMN closed_at    timestamptz,
    ADD COLUMN close_reason text;
ALTER TABLE purchase_orders ADD CONSTRAINT purchase_orders_closed_short_check
    CHECK ((state = 'closed_short') = (closed_at IS NOT NULL)
           AND (closed_at IS NULL OR (closed_by IS NOT NULL AND btrim(coalesce(close_reason, '')) <> '')));
-- The supplier scorecard counts a short-closed order by the instant it was closed.
CREATE INDEX purchase_orders_supplier_closed_idx ON purchase_orders (supplier_id, closed_at)
    WHERE closed_at IS NOT NULL;

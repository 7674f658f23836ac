-- Inbound (R-PARTS, issue 14): who and when on every step of a purchase order and a supplier
-- claim, and who last changed a catalogue record. Migration 0039 holds the tables.

ALTER TABLE parts
    ADD COLUMN updated_by text,
    ADD COLUMN updated_at timestamptz;
ALTER TABLE parts ADD CONSTRAINT parts_id_check CHECK (id ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$') NOT VALID;
ALTER TABLE suppliers
    ADD COLUMN updated_by text,
    ADD COLUMN updated_at timestamptz;
ALTER TABLE supplier_parts
    ADD COLUMN updated_by text,
    ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();

-- draft → ordered (ordered_by, ordered_at) → partially_received → received (received_at: the
-- goods receipt that completed it, which the supplier scorecard reads) | cancelled.
ALTER TABLE purchase_orders
    ADD COLUMN note          text,
    ADD COLUMN ordered_by    text,
    ADD COLUMN received_at   timestamptz,
    ADD COLUMN cancelled_by  text,
    ADD COLUMN cancelled_at  timestamptz,
    ADD COLUMN cancel_reason text;
ALTER TABLE purchase_orders ADD CONSTRAINT purchase_orders_ordered_check
    CHECK (state IN ('draft', 'cancelled') OR (ordered_at IS NOT NULL AND expected_at IS NOT NULL));
ALTER TABLE purchase_orders ADD CONSTRAINT purchase_orders_received_check
    CHECK ((state = 'received') = (received_at IS NOT NULL));
CREATE INDEX purchase_orders_supplier_received_idx ON purchase_orders (supplier_id, received_at)
    WHERE received_at IS NOT NULL;
CREATE INDEX goods_receipts_supplier_idx ON goods_receipts (supplier_id, received_at);
CREATE INDEX goods_receipts_order_idx ON goods_receipts (purchase_order_id) WHERE purchase_order_id IS NOT NULL;

-- open → shipped (shipped_by, shipped_at) → credited | rejected (closed_by, closed_at, resolution);
-- the parts keeper names the supplier of a claim opened without one.
ALTER TABLE supplier_claims
    ADD COLUMN shipped_by        text,
    ADD COLUMN shipped_at        timestamptz,
    ADD COLUMN supplier_named_by text,
    ADD COLUMN supplier_named_at timestamptz;
CREATE INDEX supplier_claims_supplier_idx ON supplier_claims (supplier_id, opened_at);

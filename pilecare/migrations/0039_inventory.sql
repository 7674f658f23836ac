-- Spare parts as a stock ledger (R-PARTS, issue 14): catalogue, suppliers, locations with
-- their receiving and quarantine areas, typed stock movements, purchase orders, goods
-- receipts with inspection, supplier claims and stock-takes.

-- The parts keeper and the service manager get their own roles.
ALTER TABLE users DROP CONSTRAINT users_role_check;
ALTER TABLE users ADD CONSTRAINT users_role_check
    CHECK (role IN ('admin', 'supervisor', 'dispatcher', 'engineer', 'agent', 'viewer', 'customer',
                    'parts_keeper', 'manager'));

-- Catalogue: the part's id is its part number; unit_cost is its standard cost.
ALTER TABLE parts
    ADD COLUMN unit       text NOT NULL DEFAULT 'pcs',
    ADD COLUMN active     boolean NOT NULL DEFAULT true,
    ADD COLUMN created_at timestamptz NOT NULL DEFAULT now();
CREATE TABLE part_alternates (
    part_id      text NOT NULL REFERENCES parts (id),
    alternate_id text NOT NULL REFERENCES parts (id),
    PRIMARY KEY (part_id, alternate_id),
    CHECK (part_id <> alternate_id)
);

CREATE TABLE suppliers (
    id         text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$'),
    name       text NOT NULL,
    email      text,
    phone      text,
    active     boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE supplier_parts (
    supplier_id          text NOT NULL REFERENCES suppliers (id),
    part_id              text NOT NULL REFERENCES parts (id),
    supplier_part_number text,
    price                numeric(12, 2) NOT NULL CHECK (price >= 0),
    lead_time_days       integer NOT NULL CHECK (lead_time_days >= 0),
    PRIMARY KEY (supplier_id, part_id)
);

-- Locations: warehouses and vans hold usable stock; a warehouse's receiving area holds
-- goods waiting for inspection, and every warehouse's and van's quarantine area what failed
-- inspection or came back defective from the field (the van's box of removed parts until
-- it is brought in). No area is ever issuable. A van's parent is its home warehouse; an
-- area's parent is the location it belongs to.
ALTER TABLE stock_locations DROP CONSTRAINT stock_locations_kind_check;
ALTER TABLE stock_locations ADD CONSTRAINT stock_locations_kind_check
    CHECK (kind IN ('warehouse', 'van', 'receiving', 'quarantine'));
ALTER TABLE stock_locations ADD COLUMN parent_id text REFERENCES stock_locations (id);
ALTER TABLE stock_locations ADD CONSTRAINT stock_locations_area_check
    CHECK (kind NOT IN ('receiving', 'quarantine') OR parent_id IS NOT NULL);
CREATE UNIQUE INDEX stock_locations_one_area ON stock_locations (parent_id, kind)
    WHERE kind IN ('receiving', 'quarantine');

-- However a warehouse or van is created, its areas exist with it.
CREATE FUNCTION stock_location_areas() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO stock_locations (id, kind, name, parent_id)
    SELECT NEW.id || '/' || a, a, NEW.name || ' (' || a || ')', NEW.id
    FROM unnest(CASE NEW.kind WHEN 'warehouse' THEN ARRAY['receiving', 'quarantine'] ELSE ARRAY['quarantine'] END) a
    ON CONFLICT DO NOTHING;
    RETURN NEW;
END $$;
CREATE TRIGGER stock_location_areas AFTER INSERT ON stock_locations
    FOR EACH ROW WHEN (NEW.kind IN ('warehouse', 'van')) EXECUTE FUNCTION stock_location_areas();
INSERT INTO stock_locations (id, kind, name, parent_id)
SELECT l.id || '/' || a, a, l.name || ' (' || a || ')', l.id
FROM stock_locations l,
     unnest(CASE l.kind WHEN 'warehouse' THEN ARRAY['receiving', 'quarantine'] ELSE ARRAY['quarantine'] END) a
WHERE l.kind IN ('warehouse', 'van');

-- The ledger: every change of stock is one row per location it touches (a transfer is two
-- rows sharing `entry`), quantity signed (+ into the location, − out of it), never updated
-- or deleted. `stock` is the running balance kept by the trigger below, so on-hand always
-- equals the sum of movements, and its CHECK (quantity >= 0) refuses any movement that
-- would take a location below zero, under any concurrency: the balance row is locked by
-- the update, so the next movement of the same part and location waits and re-checks.
CREATE TABLE stock_movements (
    id                    bigserial PRIMARY KEY,
    entry                 uuid NOT NULL,
    kind                  text NOT NULL CHECK (kind IN (
        'opening', 'receipt', 'inspection_passed', 'inspection_failed', 'transfer', 'issue',
        'defective_return', 'supplier_return', 'scrap', 'adjustment')),
    part_id               text NOT NULL REFERENCES parts (id),
    location_id           text NOT NULL REFERENCES stock_locations (id),
    quantity              integer NOT NULL CHECK (quantity <> 0),
    unit_cost             numeric(12, 2) NOT NULL CHECK (unit_cost >= 0),
    work_order_id         bigint REFERENCES work_orders (id),
    plan_id               text REFERENCES maintenance_plans (id),
    engineer_id           text REFERENCES engineers (id),      -- who received an issue
    supplier_id           text REFERENCES suppliers (id),
    goods_receipt_line_id bigint,
    stock_take_id         bigint,
    supplier_claim_id     bigint,
    reason                text,
    recorded_by           text NOT NULL,
    recorded_at           timestamptz NOT NULL DEFAULT now(),
    -- R-PARTS: outbound only against a job or a plan, with the receiver recorded.
    CHECK (kind <> 'issue' OR (quantity < 0 AND (work_order_id IS NOT NULL OR plan_id IS NOT NULL)
                               AND engineer_id IS NOT NULL)),
    CHECK (kind <> 'adjustment' OR reason IS NOT NULL)
);
CREATE INDEX stock_movements_part_idx ON stock_movements (part_id, location_id, recorded_at);
CREATE INDEX stock_movements_order_idx ON stock_movements (work_order_id) WHERE work_order_id IS NOT NULL;
CREATE INDEX stock_movements_kind_time_idx ON stock_movements (kind, recorded_at);
CREATE INDEX stock_movements_entry_idx ON stock_movements (entry);

-- Stock held before the ledger existed becomes its opening balance (before the trigger, so
-- the balance is not counted twice).
INSERT INTO stock_movements (entry, kind, part_id, location_id, quantity, unit_cost, reason, recorded_by)
SELECT gen_random_uuid(), 'opening', s.part_id, s.location_id, s.quantity, p.unit_cost,
       'stock before the ledger (migration 0039)', 'migration'
FROM stock s JOIN parts p ON p.id = s.part_id WHERE s.quantity > 0;

CREATE FUNCTION stock_movement_applied() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- Update first: INSERT … ON CONFLICT checks the CHECK on the row it would insert, so a
    -- withdrawal must never take that path. A location that never held the part has no
    -- row; the insert of a negative balance then fails the CHECK, as it should.
    UPDATE stock SET quantity = quantity + NEW.quantity WHERE location_id = NEW.location_id AND part_id = NEW.part_id;
    IF NOT FOUND THEN
        INSERT INTO stock (location_id, part_id, quantity) VALUES (NEW.location_id, NEW.part_id, NEW.quantity)
        ON CONFLICT (location_id, part_id) DO UPDATE SET quantity = stock.quantity + EXCLUDED.quantity;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER stock_movements_apply AFTER INSERT ON stock_movements
    FOR EACH ROW EXECUTE FUNCTION stock_movement_applied();

CREATE FUNCTION stock_movement_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'stock movements are never changed or deleted: record a new movement'
        USING ERRCODE = 'restrict_violation';
END $$;
CREATE TRIGGER stock_movements_immutable BEFORE UPDATE OR DELETE ON stock_movements
    FOR EACH ROW EXECUTE FUNCTION stock_movement_immutable();

-- The balance moves only through the ledger: a direct write would break on-hand = sum.
CREATE FUNCTION stock_through_ledger() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF pg_trigger_depth() < 2 THEN
        RAISE EXCEPTION 'stock changes only through stock_movements' USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END $$;
CREATE TRIGGER stock_through_ledger BEFORE INSERT OR UPDATE OR DELETE ON stock
    FOR EACH ROW EXECUTE FUNCTION stock_through_ledger();

-- Inbound: purchase orders to suppliers, goods receipts, inspection per receipt line.
CREATE TABLE purchase_orders (
    id          bigserial PRIMARY KEY,
    supplier_id text NOT NULL REFERENCES suppliers (id),
    state       text NOT NULL DEFAULT 'draft'
                CHECK (state IN ('draft', 'ordered', 'partially_received', 'received', 'cancelled')),
    location_id text NOT NULL REFERENCES stock_locations (id),   -- the warehouse it is delivered to
    ordered_at  timestamptz,
    expected_at timestamptz,                                      -- ordered_at + the supplier's lead time
    created_by  text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE purchase_order_lines (
    id                bigserial PRIMARY KEY,
    purchase_order_id bigint NOT NULL REFERENCES purchase_orders (id),
    part_id           text NOT NULL REFERENCES parts (id),
    quantity          integer NOT NULL CHECK (quantity > 0),
    unit_price        numeric(12, 2) NOT NULL CHECK (unit_price >= 0),
    UNIQUE (purchase_order_id, part_id)
);
CREATE TABLE goods_receipts (
    id                bigserial PRIMARY KEY,
    supplier_id       text NOT NULL REFERENCES suppliers (id),
    purchase_order_id bigint REFERENCES purchase_orders (id),
    location_id       text NOT NULL REFERENCES stock_locations (id),   -- the warehouse receiving it
    delivery_note     text,
    received_at       timestamptz NOT NULL DEFAULT now(),
    received_by       text NOT NULL
);
CREATE TABLE goods_receipt_lines (
    id               bigserial PRIMARY KEY,
    goods_receipt_id bigint NOT NULL REFERENCES goods_receipts (id),
    part_id          text NOT NULL REFERENCES parts (id),
    quantity         integer NOT NULL CHECK (quantity > 0),
    unit_price       numeric(12, 2) NOT NULL CHECK (unit_price >= 0),
    -- Inspection (R-PARTS): quantity and quality; only what passed reaches usable stock.
    passed_quantity  integer CHECK (passed_quantity >= 0),
    failed_quantity  integer CHECK (failed_quantity >= 0),
    failure_reason   text,
    inspected_by     text,
    inspected_at     timestamptz,
    CHECK ((inspected_at IS NULL) = (passed_quantity IS NULL) AND (inspected_at IS NULL) = (failed_quantity IS NULL)),
    CHECK (passed_quantity IS NULL OR passed_quantity + failed_quantity = quantity),
    CHECK (coalesce(failed_quantity, 0) = 0 OR failure_reason IS NOT NULL)
);
CREATE INDEX goods_receipt_lines_pending_idx ON goods_receipt_lines (goods_receipt_id) WHERE inspected_at IS NULL;
ALTER TABLE stock_movements ADD CONSTRAINT stock_movements_receipt_line_fk
    FOREIGN KEY (goods_receipt_line_id) REFERENCES goods_receipt_lines (id);

-- A defective part back from the field under warranty, or a failed inspection, claimed
-- from the supplier; the rest is scrapped.
CREATE TABLE supplier_claims (
    id             bigserial PRIMARY KEY,
    supplier_id    text REFERENCES suppliers (id),    -- null until the parts keeper names one
    part_id        text NOT NULL REFERENCES parts (id),
    quantity       integer NOT NULL CHECK (quantity > 0),
    work_order_id  bigint REFERENCES work_orders (id),
    goods_receipt_line_id bigint REFERENCES goods_receipt_lines (id),
    state          text NOT NULL DEFAULT 'open'
                   CHECK (state IN ('open', 'shipped', 'credited', 'rejected')),
    reason         text NOT NULL,
    resolution     text,
    opened_by      text NOT NULL,
    opened_at      timestamptz NOT NULL DEFAULT now(),
    closed_by      text,
    closed_at      timestamptz
);
CREATE UNIQUE INDEX supplier_claims_per_receipt_line ON supplier_claims (goods_receipt_line_id)
    WHERE goods_receipt_line_id IS NOT NULL;
ALTER TABLE stock_movements ADD CONSTRAINT stock_movements_claim_fk
    FOREIGN KEY (supplier_claim_id) REFERENCES supplier_claims (id);

-- Stock-takes: a count sheet per location; variances become adjustments once the parts
-- keeper approves them.
CREATE TABLE stock_takes (
    id          bigserial PRIMARY KEY,
    location_id text NOT NULL REFERENCES stock_locations (id),
    state       text NOT NULL DEFAULT 'counting' CHECK (state IN ('counting', 'submitted', 'approved', 'cancelled')),
    started_by  text NOT NULL,
    started_at  timestamptz NOT NULL DEFAULT now(),
    submitted_by text,
    submitted_at timestamptz,
    decided_by  text,
    decided_at  timestamptz
);
-- One stock-take open per location at a time.
CREATE UNIQUE INDEX stock_takes_one_open ON stock_takes (location_id) WHERE state IN ('counting', 'submitted');
CREATE TABLE stock_take_lines (
    stock_take_id bigint NOT NULL REFERENCES stock_takes (id),
    part_id       text NOT NULL REFERENCES parts (id),
    expected      integer NOT NULL,              -- on hand when the sheet was printed
    counted       integer CHECK (counted >= 0),
    counted_by    text,
    counted_at    timestamptz,
    PRIMARY KEY (stock_take_id, part_id)
);
ALTER TABLE stock_movements ADD CONSTRAINT stock_movements_stock_take_fk
    FOREIGN KEY (stock_take_id) REFERENCES stock_takes (id);

-- The field flow's parts use points at its issue movement.
ALTER TABLE parts_used ADD COLUMN entry uuid;

-- Reorder planning (R-PARTS, issue 14 item 5): per part and usable location (warehouse or
-- van), the reorder point and order quantity computed from the consumption history
-- (maintenance/inventory/reorder.py, docs/parts.md), and the parts keeper's override, which
-- wins over the computed figures until it is cleared.
CREATE TABLE reorder_levels (
    part_id          text NOT NULL REFERENCES parts (id),
    location_id      text NOT NULL REFERENCES stock_locations (id),
    -- What the computation found (demand in units per week; stock in units; lead time in days).
    weekly_demand    numeric(14, 4) NOT NULL CHECK (weekly_demand >= 0),
    sigma_weekly     numeric(14, 4) NOT NULL CHECK (sigma_weekly >= 0),
    lead_time_days   integer NOT NULL CHECK (lead_time_days >= 0),
    safety_stock     numeric(14, 4) NOT NULL CHECK (safety_stock >= 0),
    reorder_point    integer NOT NULL CHECK (reorder_point >= 0),
    order_quantity   integer NOT NULL CHECK (order_quantity >= 0),
    supplier_id      text REFERENCES suppliers (id),          -- the cheapest listing, whose lead time was used
    history_weeks    integer NOT NULL CHECK (history_weeks >= 0),
    demand_weeks     integer NOT NULL CHECK (demand_weeks >= 0), -- weeks of the history with any issue
    method           text NOT NULL,                            -- e.g. 'tsb(alpha_d=0.2, alpha_p=0.1)'
    computed_at      timestamptz NOT NULL,
    -- The parts keeper's word: either figure may be overridden; null = the computed one holds.
    override_reorder_point  integer CHECK (override_reorder_point >= 0),
    override_order_quantity integer CHECK (override_order_quantity >= 0),
    override_reason  text,
    override_by      text,
    override_at      timestamptz,
    PRIMARY KEY (location_id, part_id),
    CHECK ((override_reorder_point IS NULL AND override_order_quantity IS NULL)
           OR (override_reason IS NOT NULL AND override_by IS NOT NULL AND override_at IS NOT NULL))
);
CREATE INDEX reorder_levels_part_idx ON reorder_levels (part_id);

-- The consumption history reads issues per part and location over time.
CREATE INDEX stock_movements_issue_idx ON stock_movements (location_id, part_id, recorded_at) WHERE kind = 'issue';

-- Who opened a warehouse or van, and when (POST /stock/locations). Locations from before
-- this migration, and the areas the trigger of 0039 makes, have no creator recorded.
ALTER TABLE stock_locations
    ADD COLUMN created_by text,
    ADD COLUMN created_at timestamptz NOT NULL DEFAULT now();

-- A stock-take's count is the shelf at the moment it is recorded: the book quantity read then
-- is kept with it, and the approved adjustment is counted − book_at_count. Movements made
-- during the stock-take, before or after a line was counted, are then neither lost nor counted
-- twice (docs/parts.md "Stock-takes").
ALTER TABLE stock_take_lines
    ADD COLUMN book_at_count integer,
    ADD CONSTRAINT stock_take_lines_count_book_check CHECK ((counted IS NULL) = (book_at_count IS NULL));

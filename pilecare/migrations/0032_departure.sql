-- Issue 12, item 2: where the engineer set off from, so arrival can check the whole trip's
-- speed (a phone reporting many small jumps passes the jump check, not this one).
ALTER TABLE work_orders ADD COLUMN departed_lat double precision, ADD COLUMN departed_lon double precision,
    ADD COLUMN departed_at timestamptz;

-- Issue 4, dispatch: an order nobody qualifies for is noted to the supervisor once, not on
-- every pass; and the per-order look-ups dispatch makes (who refused this order, every
-- offer with its score) read an index.
CREATE UNIQUE INDEX notifications_dispatch_once_idx ON notifications (work_order_id, kind)
    WHERE kind = 'dispatch_no_engineer';
CREATE INDEX assignments_order_idx ON assignments (work_order_id, state);

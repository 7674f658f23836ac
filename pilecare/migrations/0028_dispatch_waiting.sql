-- Issue 12, item 5: no qualified engineer is news, to the dispatcher and the supervisor, once
-- each per order: an order nobody qualifies for at all (dispatch_no_engineer), and one whose
-- qualified engineers are all off shift or at capacity (dispatch_waiting).
DROP INDEX notifications_dispatch_once_idx;
CREATE UNIQUE INDEX notifications_dispatch_once_idx ON notifications (work_order_id, kind, recipient_role)
    WHERE kind IN ('dispatch_no_engineer', 'dispatch_waiting');

-- Issue 12, item 2: arrival is a real check. What made an arrival doubtful (a fix that jumped
-- kilometres in seconds from the engineer's last reported position, an arrival sooner than
-- the trip allows), kept on the order beside the timeline's note; empty when it was plausible.
ALTER TABLE work_orders ADD COLUMN arrival_flags text[] NOT NULL DEFAULT '{}';

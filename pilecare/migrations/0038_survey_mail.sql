-- Issue 13, R-FOLLOWUP: the survey link is mailed once when the follow-up falls due.
ALTER TABLE follow_ups ADD COLUMN survey_sent_at timestamptz;
CREATE INDEX follow_ups_survey_due_idx ON follow_ups (due_at)
    WHERE done_at IS NULL AND survey_sent_at IS NULL AND withdrawn_at IS NULL;

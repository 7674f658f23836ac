-- Who changed which account and when (created, role, active, password reset, engineer link).
CREATE TABLE user_events (
    id      bigserial PRIMARY KEY,
    user_id text NOT NULL REFERENCES users (id),
    at      timestamptz NOT NULL DEFAULT now(),
    actor   text NOT NULL,
    change  jsonb NOT NULL
);
CREATE INDEX user_events_user_idx ON user_events (user_id, id);

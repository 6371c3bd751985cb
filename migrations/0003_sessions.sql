-- Signed-in sessions of the web form, shared by every web process. The cookie holds a random token; only its
-- SHA-256 is stored, so a copy of this table signs nobody in. Signing out, a password reset or a disabled account
-- sets ended_at, and a replayed cookie then finds no live row.
CREATE TABLE web_sessions (
    token_hash   bytea       PRIMARY KEY CHECK (octet_length(token_hash) = 32),
    username     text        NOT NULL REFERENCES users (username) ON DELETE CASCADE,
    data         jsonb       NOT NULL DEFAULT '{}'::jsonb,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_seen_at timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    ended_at     timestamptz
);
CREATE INDEX web_sessions_live_by_user ON web_sessions (username) WHERE ended_at IS NULL;
CREATE INDEX web_sessions_expires ON web_sessions (expires_at);

-- Counters of the `limits` library's fixed-window strategy (web/throttle.py): failed sign-ins per account and
-- per client address, one row per key, so every web process counts against the same window.
CREATE TABLE rate_limit_counters (
    key        text        PRIMARY KEY,
    count      integer     NOT NULL,
    expires_at timestamptz NOT NULL
);
CREATE INDEX rate_limit_counters_expires ON rate_limit_counters (expires_at);

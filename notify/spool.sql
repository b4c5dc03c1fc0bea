-- posfleet-notify's spool: its own small SQLite file (WAL), not the posfleet store.
-- Every notification is written here before Alertmanager gets its 200; the sender works
-- from these rows, so a restart loses nothing and resends only what was not marked sent.

CREATE TABLE IF NOT EXISTS inbox (
    id INTEGER PRIMARY KEY,
    idem_key TEXT NOT NULL,          -- notify.payload.idempotency_key
    receiver TEXT NOT NULL,
    status TEXT NOT NULL,            -- firing | resolved
    received_at REAL NOT NULL,       -- unix seconds
    payload TEXT NOT NULL            -- the webhook body as received
);
CREATE INDEX IF NOT EXISTS inbox_key ON inbox(idem_key, received_at);

-- One row per (notification, channel): what the sender owes each robot.
CREATE TABLE IF NOT EXISTS deliveries (
    id INTEGER PRIMARY KEY,
    inbox_id INTEGER NOT NULL REFERENCES inbox(id),
    channel TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',   -- pending | delivered | failed
    attempts INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    next_at REAL NOT NULL,                   -- not before (backoff)
    done_at REAL,
    message_id INTEGER REFERENCES messages(id),
    last_error TEXT NOT NULL DEFAULT '',
    UNIQUE (inbox_id, channel)
);
CREATE INDEX IF NOT EXISTS deliveries_pending ON deliveries(channel, next_at) WHERE state = 'pending';

-- Every request made to a robot or provider, sent or not: the rate limiter is rebuilt from
-- these after a restart, and the delivered deliveries point at the message that carried them.
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY,
    channel TEXT NOT NULL,
    sent_at REAL NOT NULL,                   -- when the request ended (see ratelimit.py)
    kind TEXT NOT NULL,                      -- single | digest
    alerts INTEGER NOT NULL,
    result TEXT NOT NULL,                    -- ok | rate_limited | error
    error TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS messages_sent ON messages(channel, sent_at);

-- The alerts the relay has paged, with their acknowledgement: the seam for escalation.
CREATE TABLE IF NOT EXISTS alerts (
    fingerprint TEXT NOT NULL,
    starts_at TEXT NOT NULL,
    alertname TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL,
    labels TEXT NOT NULL DEFAULT '{}',
    first_paged_at REAL,
    last_seen_at REAL NOT NULL,
    acked_at REAL,
    acked_by TEXT,
    ack_channel TEXT,
    ack_note TEXT,
    PRIMARY KEY (fingerprint, starts_at)
);

-- The tables a service built on the kernel brings: what its consumers applied, its outbox,
-- its idempotency keys, and the test's own effects.

CREATE TABLE processed_events (
    consumer     text NOT NULL,
    event_id     uuid NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);

-- Deliberately without a unique key: an effect applied twice would show as two rows.
CREATE TABLE effects (
    id         bigserial PRIMARY KEY,
    event_id   uuid NOT NULL,
    instance   text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
);

-- A check constraint that no redelivery can satisfy.
CREATE TABLE positives (
    n integer NOT NULL CHECK (n > 0)
);

CREATE TABLE outbox (
    id          bigserial PRIMARY KEY,
    event_id    uuid NOT NULL UNIQUE,
    kind        text NOT NULL,
    payload     jsonb NOT NULL,
    occurred_at timestamptz NOT NULL,
    request_id  text,
    sent_at     timestamptz
);
CREATE INDEX outbox_unsent_idx ON outbox (id) WHERE sent_at IS NULL;

CREATE TABLE idempotency_keys (
    scope        text NOT NULL,
    key          text NOT NULL,
    request_hash text NOT NULL,
    status       smallint,
    body         bytea,
    content_type text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (scope, key)
);

-- What the idempotent test route creates.
CREATE TABLE orders (
    id      bigserial PRIMARY KEY,
    caller  text NOT NULL,
    item    text NOT NULL
);

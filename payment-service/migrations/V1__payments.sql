-- One payment per booking. Only the payment token is kept, never card data.
CREATE TABLE payments (
    payment_id     uuid PRIMARY KEY,
    booking_id     uuid NOT NULL,
    user_id        uuid NOT NULL,
    amount         bigint NOT NULL CHECK (amount >= 0),
    currency       text NOT NULL,
    status         text NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed', 'refunded')),
    attempts       integer NOT NULL DEFAULT 0,
    failure        text,
    -- The token the next (or current) charge uses.
    token          text NOT NULL,
    charge_id      text,
    refund_id      text,
    -- The event that owns the refund (its id is the refund's idempotency key).
    refund_key     uuid,
    payment_due_at timestamptz NOT NULL,
    -- Set when the booking expired or was cancelled: it can no longer be paid.
    closed_at      timestamptz,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT payments_booking_key UNIQUE (booking_id)
);
CREATE INDEX payments_user_idx ON payments (user_id);

-- One row per charge attempt; the idempotency key is the id of the event that caused it, so
-- a redelivery after a crash sends the same key to the gateway and never charges twice.
CREATE TABLE payment_attempts (
    payment_id      uuid NOT NULL REFERENCES payments (payment_id) ON DELETE CASCADE,
    attempt         integer NOT NULL,
    idempotency_key text NOT NULL,
    -- NULL while the charge is in flight: succeeded, card_declined, invalid_token, ...
    outcome         text,
    failure         text,
    gateway_ms      integer,
    created_at      timestamptz NOT NULL DEFAULT now(),
    completed_at    timestamptz,
    PRIMARY KEY (payment_id, attempt),
    CONSTRAINT payment_attempts_key UNIQUE (payment_id, idempotency_key)
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

CREATE TABLE processed_events (
    consumer     text NOT NULL,
    event_id     uuid NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);

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
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);

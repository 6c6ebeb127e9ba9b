CREATE TABLE bookings (
    id             uuid PRIMARY KEY,
    hold_id        uuid NOT NULL,
    user_id        uuid NOT NULL,
    trip_id        bigint NOT NULL,
    status         text NOT NULL CHECK (status IN ('confirmed', 'paid', 'expired', 'cancelled')),
    passengers     jsonb NOT NULL,
    amount         bigint NOT NULL CHECK (amount >= 0),
    currency       text NOT NULL,
    payment_due_at timestamptz NOT NULL,
    ticket_code    text,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT bookings_hold_key UNIQUE (hold_id)
);
CREATE INDEX bookings_user_idx ON bookings (user_id, created_at DESC);
CREATE INDEX bookings_due_idx ON bookings (payment_due_at) WHERE status = 'confirmed';

-- One row per seat of a booking. `live` mirrors the booking being confirmed or paid, and the
-- partial unique index makes selling a seat twice impossible, whatever Redis says.
CREATE TABLE booking_seats (
    booking_id uuid NOT NULL REFERENCES bookings (id) ON DELETE CASCADE,
    trip_id    bigint NOT NULL,
    seat_id    integer NOT NULL,
    label      text NOT NULL,
    coach      text NOT NULL,
    class      text NOT NULL,
    fare       bigint NOT NULL,
    live       boolean NOT NULL DEFAULT true,
    PRIMARY KEY (booking_id, seat_id)
);
CREATE UNIQUE INDEX booking_seats_live_key ON booking_seats (trip_id, seat_id) WHERE live;

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

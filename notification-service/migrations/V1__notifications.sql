-- Where to reach each user, kept from `user.registered` (this service never calls auth).
CREATE TABLE contacts (
    user_id    uuid PRIMARY KEY,
    name       text NOT NULL,
    email      text NOT NULL,
    phone      text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Every message delivered, as the user's inbox (`GET /api/notifications`).
CREATE TABLE notifications (
    id         uuid PRIMARY KEY,
    user_id    uuid NOT NULL,
    kind       text NOT NULL CHECK (kind IN ('otp', 'ticket', 'booking_expired',
                   'booking_cancelled', 'payment_failed', 'payment_refunded')),
    channel    text NOT NULL CHECK (channel IN ('sms', 'email')),
    recipient  text NOT NULL,
    subject    text NOT NULL,
    body       text NOT NULL,
    event_id   uuid NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT notifications_event_kind_key UNIQUE (event_id, kind)
);
CREATE INDEX notifications_user_created_idx ON notifications (user_id, created_at DESC);

-- Events each consumer applied (servicekit::consumer::first_delivery).
CREATE TABLE processed_events (
    consumer     text NOT NULL,
    event_id     uuid NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);

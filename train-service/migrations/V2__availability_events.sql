-- Event ids the availability consumer has applied (servicekit::consumer::first_delivery).
CREATE TABLE processed_events (
    consumer     text NOT NULL,
    event_id     uuid NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);

-- Which bookings are counted in seats_sold: a confirmation counts once, a release
-- uncounts once, and a release seen before its confirmation leaves a tombstone so the late
-- confirmation is not counted.
CREATE TABLE counted_bookings (
    booking_id uuid PRIMARY KEY,
    trip_id    bigint NOT NULL,
    released   boolean NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

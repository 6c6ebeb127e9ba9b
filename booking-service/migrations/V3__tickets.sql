-- The signed ticket of a paid booking (its QR text), made once when the payment is applied.
ALTER TABLE bookings ADD COLUMN ticket_qr text;

-- Check-in: a booking is boarded at most once; the primary key decides parallel scans.
CREATE TABLE boardings (
    booking_id uuid PRIMARY KEY REFERENCES bookings (id) ON DELETE CASCADE,
    trip_id    bigint NOT NULL,
    boarded_at timestamptz NOT NULL DEFAULT now(),
    device     text,
    boarded_by uuid NOT NULL
);
CREATE INDEX boardings_trip_idx ON boardings (trip_id);

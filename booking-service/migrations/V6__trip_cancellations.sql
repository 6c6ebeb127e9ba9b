-- Trips the railway cancelled (`POST /api/bookings/admin/trips/{trip_id}/cancel`). The row is
-- the request and its progress; the trip cancellation job (src/trip_cancel) ends the trip's
-- live bookings in batches, counting them here in the same transactions, and sets
-- finished_at once none is left. V4, not V3: the ticket signer's migration takes V3.
CREATE TABLE trip_cancellations (
    trip_id           bigint PRIMARY KEY,
    reason            text NOT NULL,
    requested_at      timestamptz NOT NULL DEFAULT now(),
    requested_by      uuid NOT NULL,
    -- The trip's departure when it was cancelled: the in-memory set of cancelled trips
    -- keeps only trips that have not long departed.
    departs_at        timestamptz NOT NULL,
    -- Bookings this cancellation ended, and how many of them had been paid (each one's
    -- booking.cancelled carries was_paid, which payment-service refunds once).
    cancelled         bigint NOT NULL DEFAULT 0,
    refunds_requested bigint NOT NULL DEFAULT 0,
    finished_at       timestamptz
);
CREATE INDEX trip_cancellations_unfinished_idx ON trip_cancellations (requested_at)
    WHERE finished_at IS NULL;

-- Which cancelled bookings the railway's cancellation of their trip ended (not the
-- passenger's own cancel): a trip cancellation's `refunds_completed` counts only these.
ALTER TABLE bookings ADD COLUMN cancelled_by_trip boolean NOT NULL DEFAULT false;
-- Bookings cancelled before this column existed: taken as the cancellation's when their last
-- change came after the trip's cancellation was requested (a passenger's own cancel in the
-- moments between the request and the job's reaching the booking is counted with them).
UPDATE bookings b SET cancelled_by_trip = true
FROM trip_cancellations c
WHERE b.trip_id = c.trip_id AND b.status = 'cancelled' AND b.updated_at >= c.requested_at;

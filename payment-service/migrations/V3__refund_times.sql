-- When a payment's refund was claimed (the gateway is asked) and when it went through, for
-- the railway's view of a booking's payment attempts. Refunds made before stay NULL here.
ALTER TABLE payments ADD COLUMN refund_requested_at timestamptz;
ALTER TABLE payments ADD COLUMN refunded_at timestamptz;

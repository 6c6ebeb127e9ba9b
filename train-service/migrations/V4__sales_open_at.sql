-- When a trip's seats go on sale. The default rule: 08:00 Asia/Dhaka, 10 days before the
-- service date (that is 02:00 UTC); an admin may move it per trip.
CREATE FUNCTION default_sales_open_at(service_date date) RETURNS timestamptz
    LANGUAGE sql STABLE
    AS $$ SELECT ((service_date - 10) + time '08:00') AT TIME ZONE 'Asia/Dhaka' $$;

ALTER TABLE trips ADD COLUMN sales_open_at timestamptz;
UPDATE trips SET sales_open_at = default_sales_open_at(service_date);
ALTER TABLE trips ALTER COLUMN sales_open_at SET NOT NULL;

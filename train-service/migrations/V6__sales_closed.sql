-- The railway may close a trip's sales (and reopen them): booking-service then refuses new
-- holds of the trip with 409 sales_closed; a hold taken before may still be confirmed.
ALTER TABLE trips ADD COLUMN sales_closed boolean NOT NULL DEFAULT false;

-- The catalogue: stations, trains with their coaches and seats, and dated trips.
CREATE TABLE stations (
    code text PRIMARY KEY CHECK (code ~ '^[A-Z]{3}$'),
    name text NOT NULL
);

CREATE TABLE trains (
    id     bigserial PRIMARY KEY,
    number text NOT NULL,
    name   text NOT NULL,
    CONSTRAINT trains_number_key UNIQUE (number)
);

-- A coach's seats are the train's ordinals first_seat .. first_seat + seats - 1.
CREATE TABLE coaches (
    train_id   bigint NOT NULL REFERENCES trains (id) ON DELETE CASCADE,
    code       text NOT NULL,
    class      text NOT NULL CHECK (class IN ('AC_B', 'AC_S', 'SNIGDHA', 'S_CHAIR', 'SHOVAN')),
    position   integer NOT NULL CHECK (position > 0),
    seats      integer NOT NULL CHECK (seats > 0),
    first_seat integer NOT NULL CHECK (first_seat > 0),
    PRIMARY KEY (train_id, code),
    UNIQUE (train_id, position)
);

CREATE TABLE seats (
    train_id   bigint NOT NULL,
    seat_id    integer NOT NULL CHECK (seat_id > 0),
    coach_code text NOT NULL,
    number     integer NOT NULL CHECK (number > 0),
    label      text NOT NULL,
    PRIMARY KEY (train_id, seat_id),
    UNIQUE (train_id, label),
    FOREIGN KEY (train_id, coach_code) REFERENCES coaches (train_id, code) ON DELETE CASCADE
);

-- service_date is the departure's calendar date in Asia/Dhaka: the date searches ask for.
CREATE TABLE trips (
    trip_id      bigserial PRIMARY KEY,
    train_id     bigint NOT NULL REFERENCES trains (id),
    from_station text NOT NULL REFERENCES stations (code),
    to_station   text NOT NULL REFERENCES stations (code),
    service_date date NOT NULL,
    departs_at   timestamptz NOT NULL,
    arrives_at   timestamptz NOT NULL,
    CHECK (arrives_at > departs_at),
    CHECK (from_station <> to_station),
    CONSTRAINT trips_train_date_key UNIQUE (train_id, service_date)
);
CREATE INDEX trips_route_idx ON trips (from_station, to_station, service_date, departs_at);

-- Fare and availability of one class on one trip; seats_sold is kept by the booking-event
-- consumer (holds never count).
CREATE TABLE trip_classes (
    trip_id     bigint NOT NULL REFERENCES trips (trip_id) ON DELETE CASCADE,
    class       text NOT NULL,
    fare        bigint NOT NULL CHECK (fare > 0),
    seats_total integer NOT NULL CHECK (seats_total > 0),
    seats_sold  integer NOT NULL DEFAULT 0 CHECK (seats_sold >= 0),
    PRIMARY KEY (trip_id, class)
);

CREATE TABLE customers (
    customer_id         text PRIMARY KEY,
    legal_name          text        NOT NULL,
    registration_number text        NOT NULL,
    country             text        NOT NULL,
    version             integer     NOT NULL,
    registered_at       timestamptz NOT NULL
);

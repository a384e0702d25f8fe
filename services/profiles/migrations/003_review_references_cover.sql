ALTER TABLE customers
    ADD COLUMN review_on          date,
    ADD COLUMN review_due_raised  boolean NOT NULL DEFAULT false;
CREATE INDEX customers_review_idx ON customers (review_on) WHERE NOT review_due_raised;

CREATE TABLE trade_references (
    reference_id       text PRIMARY KEY,
    customer_id        text NOT NULL,
    supplier           text NOT NULL,
    contact            text,
    trading_since      date,
    credit_limit       numeric,
    currency           text,
    payment_experience text NOT NULL,
    notes              text,
    recorded_at        timestamptz NOT NULL
);
CREATE INDEX trade_references_customer_idx ON trade_references (customer_id);

CREATE TABLE insurance_covers (
    customer_id    text NOT NULL,
    insurer        text NOT NULL,
    policy_number  text NOT NULL,
    insured_limit  numeric NOT NULL,
    currency       text NOT NULL,
    expires_on     date NOT NULL,
    recorded_at    timestamptz NOT NULL,
    PRIMARY KEY (customer_id, insurer, policy_number)
);

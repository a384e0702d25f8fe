-- The whole credit file: identity, status, contacts and financial statements with ratios.
ALTER TABLE customers
    ADD COLUMN scheme         text NOT NULL DEFAULT 'OTHER',
    ADD COLUMN industry       text,
    ADD COLUMN size           text,
    ADD COLUMN address        text,
    ADD COLUMN customer_since date,
    ADD COLUMN erp_id         text,
    ADD COLUMN status         text NOT NULL DEFAULT 'active',
    ADD COLUMN status_reason  text,
    ADD COLUMN updated_at     timestamptz;
-- One credit file per registration: a second registration fails its transaction here.
CREATE UNIQUE INDEX customers_registration_key ON customers (scheme, country, registration_number);
CREATE UNIQUE INDEX customers_erp_id_key ON customers (erp_id) WHERE erp_id IS NOT NULL;
CREATE INDEX customers_name_idx ON customers (lower(legal_name) text_pattern_ops);

CREATE TABLE contacts (
    contact_id     text PRIMARY KEY,
    customer_id    text NOT NULL,
    name           text NOT NULL,
    role           text,
    email          text,
    phone          text,
    billing        boolean NOT NULL,
    retired_at     timestamptz,
    retired_reason text
);
CREATE INDEX contacts_customer_idx ON contacts (customer_id);

CREATE TABLE statements (
    customer_id     text    NOT NULL,
    period_end      date    NOT NULL,
    period_months   integer NOT NULL,
    currency        text    NOT NULL,
    items           jsonb   NOT NULL,
    audited         boolean NOT NULL,
    current_ratio   numeric,
    debt_ratio      numeric,
    working_capital numeric NOT NULL,
    altman_z        numeric,
    altman_zone     text,
    recorded_at     timestamptz NOT NULL,
    PRIMARY KEY (customer_id, period_end, period_months)
);

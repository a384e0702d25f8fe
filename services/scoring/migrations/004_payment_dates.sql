-- What the payment-date model reads and writes: each invoice's own dates and terms, disputes,
-- valued promises, promises and plan instalments still expected, cash received, the models
-- trained and the predictions made with them.

ALTER TABLE invoices ADD COLUMN settled_on date;             -- nothing left open, by any means
ALTER TABLE invoices ADD COLUMN cash_discount boolean NOT NULL DEFAULT false;
ALTER TABLE invoices ADD COLUMN disputed_on date;            -- its first dispute

CREATE TABLE promise_outcomes (
    customer_id text    NOT NULL,
    promise_id  text    NOT NULL,
    kept        boolean NOT NULL,
    valued_on   date    NOT NULL,
    PRIMARY KEY (customer_id, promise_id)
);

-- Promises to pay and plan instalments still to come, for the cash-in forecast.
CREATE TABLE expected_receipts (
    source      text    NOT NULL,   -- promise | plan
    reference   text    NOT NULL,   -- the promise's or the plan's id
    seq         integer NOT NULL,
    customer_id text    NOT NULL,
    due_date    date    NOT NULL,
    amount      numeric NOT NULL,
    currency    text    NOT NULL,
    invoices    jsonb   NOT NULL,
    PRIMARY KEY (source, reference, seq)
);

CREATE TABLE cash_received (
    customer_id text    NOT NULL,
    payment_id  text    NOT NULL,
    received_on date    NOT NULL,
    amount      numeric NOT NULL,
    currency    text    NOT NULL,
    reversed    boolean NOT NULL DEFAULT false,
    PRIMARY KEY (customer_id, payment_id)
);
CREATE INDEX cash_received_on ON cash_received (received_on);

CREATE TABLE payment_date_models (
    version    integer PRIMARY KEY,
    trained_on date        NOT NULL,
    trained    jsonb       NOT NULL,   -- the PaymentDateModelTrained event
    model      bytea,                  -- written beside the event; a rebuilt read model trains anew
    recorded_at timestamptz NOT NULL
);

CREATE TABLE payment_predictions (
    predicted_on     date    NOT NULL,
    customer_id      text    NOT NULL,
    invoice_id       text    NOT NULL,
    model_version    integer,          -- NULL: the median-delay baseline
    due_date         date    NOT NULL,
    paid_on          date    NOT NULL, -- predicted
    low              date    NOT NULL,
    high             date    NOT NULL,
    late_probability numeric NOT NULL,
    open_amount      numeric NOT NULL, -- in the invoice's currency, when predicted
    currency         text    NOT NULL,
    PRIMARY KEY (predicted_on, customer_id, invoice_id)
);
CREATE INDEX payment_predictions_invoice ON payment_predictions (customer_id, invoice_id, predicted_on);

-- The customer-level summary last published (PaymentLatenessPredicted), to publish only changes.
CREATE TABLE predicted_lateness (
    customer_id        text PRIMARY KEY,
    version            integer NOT NULL,  -- of the stream payment-lateness-<customer>
    predicted_on       date    NOT NULL,
    expected_days_late integer NOT NULL,
    late_probability   numeric NOT NULL
);

-- The weekly cash-in forecast each prediction run made, in the base currency, kept to set
-- beside what came in.
CREATE TABLE cash_forecasts (
    made_on    date    NOT NULL,
    week_start date    NOT NULL,   -- a Monday
    predicted  numeric NOT NULL,   -- from the predicted payment dates
    promised   numeric NOT NULL,   -- from promises to pay and plan instalments
    PRIMARY KEY (made_on, week_start)
);
CREATE TABLE cash_forecast_runs (
    made_on date PRIMARY KEY,
    later   numeric NOT NULL   -- predicted after the forecast's last week
);

-- Month-end positions of each account, bitemporal: a version of (customer, day) per business date
-- on which something recorded changed it, so a report reads the positions in force on its
-- knowledge date instead of folding the book. See services.receivables.domain.positions.
CREATE TABLE kpi_versions (
    customer_id text NOT NULL,
    day         date NOT NULL,   -- a position day: a month end, or 90 days after one
    known_from  date NOT NULL,   -- the position as the ledger knew it from the end of this day
    PRIMARY KEY (day, customer_id, known_from)
);

CREATE TABLE kpi_open (
    customer_id   text NOT NULL,
    day           date NOT NULL,
    known_from    date NOT NULL,
    currency      text NOT NULL,
    receivables   numeric NOT NULL,
    current       numeric NOT NULL,
    over_90       numeric NOT NULL,
    past_due      numeric NOT NULL,
    past_due_days numeric NOT NULL,  -- Σ past-due amount x days past due
    PRIMARY KEY (day, customer_id, known_from, currency)
);

CREATE TABLE kpi_flows (
    customer_id text NOT NULL,
    day         date NOT NULL,
    known_from  date NOT NULL,
    currency    text NOT NULL,
    month       date NOT NULL,      -- its first day
    sales       numeric NOT NULL,   -- month ends: invoices issued in the month, charges excluded
    collected   numeric NOT NULL,   -- payments with a value date in the month, not reversed by the day
    fell_due    numeric NOT NULL,   -- instalments due in the month
    unpaid      numeric NOT NULL,   -- 90 days after a month end: the month's billing still unpaid
    PRIMARY KEY (day, customer_id, known_from, currency, month)
);

CREATE TABLE kpi_items (
    customer_id text NOT NULL,
    day         date NOT NULL,      -- a month end
    known_from  date NOT NULL,
    invoice_id  text NOT NULL,      -- charges excluded
    currency    text NOT NULL,
    open        numeric NOT NULL,   -- its open instalments
    oldest_due  date,               -- the oldest of them
    lost        numeric NOT NULL,   -- written off less recovered by the day
    billed      numeric,            -- issued in the day's month: its total
    PRIMARY KEY (day, customer_id, known_from, invoice_id)
);

-- What is still to fold: the position days from since to until of an account, as known at the end
-- of known_on. Marked in the transaction of the event that changes them; seq tells a mark renewed
-- while it was being folded.
CREATE SEQUENCE kpi_mark_seq;
CREATE TABLE kpi_marks (
    customer_id text NOT NULL,
    known_on    date NOT NULL,
    since       date NOT NULL,
    until       date NOT NULL,
    seq         bigint NOT NULL DEFAULT nextval('kpi_mark_seq'),
    marked_at   timestamptz NOT NULL DEFAULT clock_timestamp(),  -- last renewed: folded once settled
    PRIMARY KEY (customer_id, known_on)
);

-- The position days whose every account has been marked as known at the end of that day.
CREATE TABLE kpi_position_days (
    day date PRIMARY KEY
);

-- Where the position days begin: the earliest business date of any movement.
CREATE INDEX movements_entry_date_idx ON movements (entry_date);

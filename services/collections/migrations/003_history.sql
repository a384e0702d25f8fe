-- The facts with the business date the system recorded each and the date each counts from, for
-- the policy backtest (POST /policy/what-if). What was owed on an invoice on a day is its total as
-- issued less its reductions up to that day: payments, credit notes, discounts and write-offs reduce
-- it (reversals and withdrawals are negative), and an adjustment of the total is a reduction of
-- minus its change.
-- Items projected before this history existed have no issued total: the backtest leaves them out
-- until the read model is rebuilt from the events (libs.events.rebuild).
ALTER TABLE items ADD COLUMN issued_total numeric;
ALTER TABLE items ADD COLUMN recorded_on date;

CREATE TABLE reductions (
    customer_id text    NOT NULL,
    invoice_id  text    NOT NULL,
    amount      numeric NOT NULL,
    recorded_on date    NOT NULL,  -- the day the ledger recorded it
    entry_date  date    NOT NULL   -- the business date it counts from
);
CREATE INDEX reductions_by_customer ON reductions (customer_id, invoice_id);

-- The grade and whether a hold was on, from the business date collections learnt of each change.
CREATE TABLE standing_history (
    customer_id text    NOT NULL,
    since       date    NOT NULL,
    grade       text,
    on_hold     boolean NOT NULL,
    PRIMARY KEY (customer_id, since)
);

-- The whole book's month-end positions, summed over the accounts as what each knowledge date
-- changed: for a position day, known_from k holds Σ over the accounts of (the version from k less
-- the version before it), so the book as known on a date is the sum of the rows known from it or
-- before. Kept in the keeper's transaction with the versions; a report of the whole book reads a
-- few rows per day instead of every account's. See services.receivables.positions.
CREATE TABLE kpi_book_open (
    day           date NOT NULL,
    known_from    date NOT NULL,
    currency      text NOT NULL,
    receivables   numeric NOT NULL,
    current       numeric NOT NULL,
    over_90       numeric NOT NULL,
    past_due      numeric NOT NULL,
    past_due_days numeric NOT NULL,
    PRIMARY KEY (day, known_from, currency)
);

CREATE TABLE kpi_book_flows (
    day        date NOT NULL,
    known_from date NOT NULL,
    currency   text NOT NULL,
    month      date NOT NULL,
    sales      numeric NOT NULL,
    collected  numeric NOT NULL,
    fell_due   numeric NOT NULL,
    unpaid     numeric NOT NULL,
    PRIMARY KEY (day, known_from, currency, month)
);

-- The positions already kept: each version's change over the one before it, the amounts a version
-- lacks counted as zero.
INSERT INTO kpi_book_open
SELECT day, known_from, currency, sum(receivables), sum(current), sum(over_90), sum(past_due), sum(past_due_days)
  FROM (
    SELECT v.day, v.known_from, c.currency,
           coalesce(o.receivables, 0) - coalesce(lag(coalesce(o.receivables, 0)) OVER w, 0) AS receivables,
           coalesce(o.current, 0) - coalesce(lag(coalesce(o.current, 0)) OVER w, 0) AS current,
           coalesce(o.over_90, 0) - coalesce(lag(coalesce(o.over_90, 0)) OVER w, 0) AS over_90,
           coalesce(o.past_due, 0) - coalesce(lag(coalesce(o.past_due, 0)) OVER w, 0) AS past_due,
           coalesce(o.past_due_days, 0) - coalesce(lag(coalesce(o.past_due_days, 0)) OVER w, 0) AS past_due_days
      FROM kpi_versions v
      JOIN (SELECT DISTINCT customer_id, day, currency FROM kpi_open) c USING (customer_id, day)
      LEFT JOIN kpi_open o USING (customer_id, day, known_from, currency)
    WINDOW w AS (PARTITION BY v.customer_id, v.day, c.currency ORDER BY v.known_from)
  ) changes
 GROUP BY 1, 2, 3;

INSERT INTO kpi_book_flows
SELECT day, known_from, currency, month, sum(sales), sum(collected), sum(fell_due), sum(unpaid)
  FROM (
    SELECT v.day, v.known_from, c.currency, c.month,
           coalesce(f.sales, 0) - coalesce(lag(coalesce(f.sales, 0)) OVER w, 0) AS sales,
           coalesce(f.collected, 0) - coalesce(lag(coalesce(f.collected, 0)) OVER w, 0) AS collected,
           coalesce(f.fell_due, 0) - coalesce(lag(coalesce(f.fell_due, 0)) OVER w, 0) AS fell_due,
           coalesce(f.unpaid, 0) - coalesce(lag(coalesce(f.unpaid, 0)) OVER w, 0) AS unpaid
      FROM kpi_versions v
      JOIN (SELECT DISTINCT customer_id, day, currency, month FROM kpi_flows) c USING (customer_id, day)
      LEFT JOIN kpi_flows f USING (customer_id, day, known_from, currency, month)
    WINDOW w AS (PARTITION BY v.customer_id, v.day, c.currency, c.month ORDER BY v.known_from)
  ) changes
 GROUP BY 1, 2, 3, 4;

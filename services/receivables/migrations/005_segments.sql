-- Each customer's grade (scoring's CustomerScored) and collector (collections' CollectorAssigned),
-- from the business date receivables learnt of it: the KPIs' rows by grade and by collector.
CREATE TABLE customer_segments (
    customer_id text NOT NULL,
    kind        text NOT NULL,   -- grade | collector
    value       text NOT NULL,
    since       date NOT NULL,
    PRIMARY KEY (customer_id, kind, since)
);

-- Collections' promises to pay (PromiseMade), for the KPIs' collection progress: when made, and
-- the business date receivables learnt of each.
CREATE TABLE promises_made (
    customer_id text    NOT NULL,
    promise_id  text    NOT NULL,
    amount      numeric NOT NULL,
    currency    text    NOT NULL,
    made_on     date    NOT NULL,
    recorded_on date    NOT NULL,
    PRIMARY KEY (customer_id, promise_id)
);

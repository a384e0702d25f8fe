-- Each customer's grade (scoring's CustomerScored) and collector (collections' CollectorAssigned),
-- from the business date receivables learnt of it: the KPIs' rows by grade and by collector.
CREATE TABLE customer_segments (
    customer_id text NOT NULL,
    kind        text NOT NULL,   -- grade | collector
    value       text NOT NULL,
    since       date NOT NULL,
    PRIMARY KEY (customer_id, kind, since)
);

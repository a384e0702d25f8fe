CREATE TABLE bureau_reports (
    report_id       text PRIMARY KEY,
    customer_id     text        NOT NULL,
    provider        text        NOT NULL,
    report_date     date        NOT NULL,
    score           integer,
    rating          text,
    adverse_records jsonb       NOT NULL,
    raw             text,
    recorded_at     timestamptz NOT NULL
);
CREATE INDEX bureau_reports_customer_idx ON bureau_reports (customer_id, report_date DESC);

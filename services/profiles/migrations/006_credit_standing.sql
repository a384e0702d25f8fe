-- The credit standing scoring decides, projected from scoring.events into the credit file.
CREATE TABLE credit_standing (
    customer_id      text PRIMARY KEY,
    grade            text,
    score            numeric,
    reasons          jsonb       NOT NULL DEFAULT '[]',
    scored_at        timestamptz,
    limit_amount     numeric,
    standing_limit   numeric,
    limit_currency   text,
    limit_expires_on date,
    credit_days      integer,
    discount_percent numeric,
    discount_days    integer,
    holds            jsonb       NOT NULL DEFAULT '{}'
);

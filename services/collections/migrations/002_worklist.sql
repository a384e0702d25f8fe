-- Each customer's place on the worklist, computed when its facts change and by each daily run.
CREATE TABLE worklist (
    customer_id          text PRIMARY KEY,
    as_of                date    NOT NULL,
    priority             numeric NOT NULL,
    parts                jsonb   NOT NULL,
    overdue              jsonb   NOT NULL,  -- [[currency, amount], ...]
    overdue_in_base      numeric NOT NULL,
    oldest_days_past_due integer NOT NULL,
    grade                text    NOT NULL,
    broken_promises      integer NOT NULL
);
CREATE INDEX worklist_ranked ON worklist (priority DESC, overdue_in_base DESC, customer_id);

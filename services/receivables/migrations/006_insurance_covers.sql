-- Profiles' credit-insurance covers and their cancellations, from the business date receivables
-- learnt of each: the provision matrix's insured and uninsured segments.
CREATE TABLE insurance_covers (
    customer_id   text NOT NULL,
    policy_number text NOT NULL,
    recorded_on   date NOT NULL,
    kind          text NOT NULL,   -- recorded | cancelled
    expires_on    date,            -- a cover recorded
    cancelled_on  date,            -- a cancellation
    PRIMARY KEY (customer_id, policy_number, recorded_on, kind)
);

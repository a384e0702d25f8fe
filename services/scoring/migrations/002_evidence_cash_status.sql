-- The bureau's provider and the scale of its score; the credit file's status.
ALTER TABLE credit_facts ADD COLUMN bureau_provider text;
ALTER TABLE credit_facts ADD COLUMN bureau_score_min integer;
ALTER TABLE credit_facts ADD COLUMN bureau_score_max integer;
ALTER TABLE credit_facts ADD COLUMN file_status text NOT NULL DEFAULT 'active';
ALTER TABLE credit_facts ADD COLUMN file_status_reason text;

-- Only cash is a payment: what payments (not credit notes or discounts) paid on each invoice,
-- and the value date of the last of them.
ALTER TABLE invoices ADD COLUMN paid_cash numeric NOT NULL DEFAULT 0;
ALTER TABLE invoices ADD COLUMN last_paid_on date;

ALTER TABLE credit_accounts ADD COLUMN notes jsonb NOT NULL DEFAULT '[]';
ALTER TABLE score_history ADD COLUMN notes jsonb NOT NULL DEFAULT '[]';

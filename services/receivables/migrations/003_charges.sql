-- A dunning fee or late-payment interest collections posted with a notice, booked as a receivable
-- of its own: {"kind": "fee" | "interest", "step_id": ..., "description": ...}; null for a sale.
ALTER TABLE invoices ADD COLUMN charge jsonb;

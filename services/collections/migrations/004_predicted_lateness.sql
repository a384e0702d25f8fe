-- What scoring's latest predictions say of the customer's open invoices (PaymentLatenessPredicted):
-- the days after their due dates it is expected to pay, weighted by what is open.
ALTER TABLE standing ADD COLUMN expected_days_late integer;

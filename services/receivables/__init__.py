"""receivables: The receivables ledger: invoices, payments, credit notes, disputes, aging, statements."""

"""scoring: Scores, grades, credit limits and terms, approvals and the credit check."""

"""collections: Dunning, worklists, promises to pay, payment plans and escalation."""

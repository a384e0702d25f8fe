"""What receivables answers: read-side SQL over its read model, returning typed views; any other
pair of dates than today as known today is folded from the events.

- ``views``: the shapes of the answers;
- ``ledger``: accounts, invoices, payments, disputes, movements, refunds and statements;
- ``aging``: rates, balances and aging on the two axes;
- ``fx``: FX rates and the proposals waiting for a second person.
"""

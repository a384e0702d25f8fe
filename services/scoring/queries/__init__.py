"""What scoring answers: read-side SQL over its read model, returning typed views.

- ``views``: the shapes of the answers;
- ``accounts``: the credit account, its scores, requests and checks;
- ``facts``: the facts kept from others' events, gathered into score inputs and exposure;
- ``what_if``: the recorded scores replayed under a changed policy.
"""

"""The published language of Credo: what services and the ERP may rely on of one another.

Each service's published events (``profiles``, ``receivables``, ``scoring``), the ERP's documents
(``erp``), the pure rules that give those events their meaning to a consumer (a ledger event's
change of the balance, a financial statement's ratios, what a customer's events say of it), and the
catalogue of every topic, from which ``contracts/schemas/`` and ``contracts/asyncapi.json`` are
generated. This package imports only ``libs.events``; services import each other only through it.
"""

"""A financial statement's items as the credit team enters them: a sound, balanced company."""

# Assets 1,000,000 = liabilities 550,000 + equity 450,000; Altman Z'' in the safe zone.
HEALTHY = {
    "current_assets": "400000.00",
    "total_assets": "1000000.00",
    "current_liabilities": "250000.00",
    "total_liabilities": "550000.00",
    "equity": "450000.00",
    "retained_earnings": "200000.00",
    "revenue": "2000000.00",
    "ebit": "80000.00",
    "net_income": "60000.00",
}

"""alerts: Early-warning alerts to people, dashboards and the ERP."""

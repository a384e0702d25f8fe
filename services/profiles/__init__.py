"""profiles: the customer credit file (信用档案)."""

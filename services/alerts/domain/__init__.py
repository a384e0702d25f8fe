"""The alerts domain, as pure functions: the rules and their checks (``rules``), what an event
tells each rule (``triggers``), and a customer's alerts with their lifecycle (``alert``)."""

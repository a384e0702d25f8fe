"""The credit team's console: server-rendered pages over the five services' HTTP APIs."""

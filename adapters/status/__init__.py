"""The status server: the stdlib HTTP server, its routes, the dashboard page, webhooks, Prometheus text."""

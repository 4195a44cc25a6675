"""Media servers: how each is read (polls, push events, webhooks)."""

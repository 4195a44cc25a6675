"""The history database: events and samples kept in SQLite, and the queries the dashboard charts."""

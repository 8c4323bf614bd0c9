"""destination_postgres package."""

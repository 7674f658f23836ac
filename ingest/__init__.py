"""Raw device messages → validated rows in PostgreSQL, acknowledged only once committed."""

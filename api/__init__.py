"""HTTP API and the console."""

"""Versioned migrations: NNNN_name.sql, or NNNN_name.py with apply(conn, settings)."""

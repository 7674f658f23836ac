"""Telemetry and its hourly rollup, on TimescaleDB when available, else partitioned."""
from pilecare.storage import create_telemetry


def apply(conn, settings):
    create_telemetry(conn, settings)

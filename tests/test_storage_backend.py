"""Choosing the telemetry backend: PILECARE_TIMESCALE=auto uses TimescaleDB only when it
works and otherwise goes on with plain PostgreSQL; `on` stops with one line saying what to do.

TimescaleDB is not installed on the test machine, so the tests make the one statement that
touches it (storage.CREATE_EXTENSION) fail against the real PostgreSQL the way an installed
but not preloaded TimescaleDB fails: its loader raises 'extension "timescaledb" must be
preloaded' with a hint, at FATAL, which ends the session.
"""
from __future__ import annotations

import logging

import psycopg
import pytest

from pilecare import cli, storage
from pilecare.migrate import available, migrate
from pilecare.settings import Settings, get_settings
from tests import services

# TimescaleDB's message and hint (its loader, extension_load_without_preload), raised for real
# by PostgreSQL with the SQLSTATE a FATAL without an explicit code carries.
NOT_PRELOADED = """DO $$ BEGIN RAISE EXCEPTION 'extension "timescaledb" must be preloaded'
    USING ERRCODE = 'XX000',
          HINT = 'Please preload the timescaledb library via shared_preload_libraries.'; END $$"""
# What FATAL does to the session it runs in.
SESSION_ENDED = "SELECT pg_terminate_backend(pg_backend_pid())"


@pytest.fixture
def fresh_url():
    name, url = services.create_database()
    yield url
    services.drop_database(name)


def backend(url: str) -> str:
    with psycopg.connect(url) as conn:
        kind = conn.execute("SELECT relkind FROM pg_class WHERE relname = 'telemetry'").fetchone()[0]
        extension = conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'").fetchone()
    assert extension is None
    return {"p": "partitioned"}.get(kind, kind)


def storage_records(caplog, level: int) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "pilecare.storage" and r.levelno == level]


def migrate_with(url: str, timescale: str) -> list[str]:
    with psycopg.connect(url) as conn:
        return migrate(conn, Settings(database_url=url, timescale=timescale))


@pytest.mark.parametrize("refusal", [NOT_PRELOADED, SESSION_ENDED], ids=["not-preloaded", "session-ended"])
def test_it_falls_back_to_plain_postgresql_with_one_warning_when_timescaledb_is_installed_but_refuses(
        fresh_url, monkeypatch, caplog, refusal):
    monkeypatch.setattr(storage, "CREATE_EXTENSION", refusal)
    caplog.set_level(logging.INFO)
    applied = migrate_with(fresh_url, "auto")
    assert applied == [name for _, name, _ in available()]
    assert backend(fresh_url) == "partitioned"
    [warning] = storage_records(caplog, logging.WARNING)
    assert "TimescaleDB is installed but cannot be used" in warning and "plain PostgreSQL" in warning


def test_its_warning_says_how_to_preload_timescaledb(fresh_url, monkeypatch, caplog):
    monkeypatch.setattr(storage, "CREATE_EXTENSION", NOT_PRELOADED)
    migrate_with(fresh_url, "auto")
    [warning] = storage_records(caplog, logging.WARNING)
    assert 'extension "timescaledb" must be preloaded' in warning
    assert "shared_preload_libraries = 'timescaledb'" in warning and "restart PostgreSQL" in warning


def test_it_uses_plain_postgresql_without_a_warning_when_timescaledb_is_not_installed(fresh_url, caplog):
    # The real server: no timescaledb package on this machine.
    caplog.set_level(logging.INFO)
    migrate_with(fresh_url, "auto")
    assert backend(fresh_url) == "partitioned"
    assert storage_records(caplog, logging.WARNING) == []
    assert any("not installed" in m for m in storage_records(caplog, logging.INFO))


def test_off_never_tries_the_extension(fresh_url, monkeypatch, caplog):
    monkeypatch.setattr(storage, "CREATE_EXTENSION", SESSION_ENDED)
    caplog.set_level(logging.INFO)
    migrate_with(fresh_url, "off")
    assert backend(fresh_url) == "partitioned"
    assert not [r for r in caplog.records if "TimescaleDB" in r.getMessage()]


def run_migrate_command(url: str, monkeypatch, timescale: str) -> str:
    monkeypatch.setenv("PILECARE_DATABASE_URL", url)
    monkeypatch.setenv("PILECARE_TIMESCALE", timescale)
    get_settings.cache_clear()
    try:
        with pytest.raises(SystemExit) as stopped:
            cli.main(["migrate"])
    finally:
        get_settings.cache_clear()
    return str(stopped.value.code)


def test_on_stops_with_one_line_that_says_how_to_preload_timescaledb(fresh_url, monkeypatch):
    monkeypatch.setattr(storage, "CREATE_EXTENSION", NOT_PRELOADED)
    message = run_migrate_command(fresh_url, monkeypatch, "on")
    assert "\n" not in message and message.startswith("pilecare migrate: PILECARE_TIMESCALE=on")
    assert 'extension "timescaledb" must be preloaded' in message
    assert "shared_preload_libraries = 'timescaledb'" in message and "restart PostgreSQL" in message


def test_on_without_the_package_stops_with_one_line_that_says_to_install_it(fresh_url, monkeypatch):
    message = run_migrate_command(fresh_url, monkeypatch, "on")
    assert "\n" not in message and "install the timescaledb package" in message


def test_a_refused_on_leaves_the_database_ready_to_migrate_again(fresh_url, monkeypatch):
    monkeypatch.setattr(storage, "CREATE_EXTENSION", SESSION_ENDED)
    with pytest.raises(storage.TimescaleUnavailable):
        migrate_with(fresh_url, "on")
    # Nothing of the telemetry migration stayed behind; `auto` then completes the schema.
    assert migrate_with(fresh_url, "auto")[0] == "0003_telemetry.py"
    assert backend(fresh_url) == "partitioned"

"""Local services for `pilecare run` and the benchmarks when none are configured:
an embedded PostgreSQL (pgserver, a pip-installed server) and a Mosquitto broker
started with the project's config. Both keep their data under `.pilecare/`."""
from __future__ import annotations

import atexit
import logging
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

log = logging.getLogger(__name__)

BROKER_CONFIG = Path(__file__).resolve().parent.parent / "deploy" / "mosquitto" / "mosquitto.conf"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


def start_postgres(data_dir: Path) -> str:
    """Start (or reuse) the embedded PostgreSQL; return its URL. Stops at exit."""
    try:
        import pgserver
    except ImportError as error:
        raise RuntimeError("embedded PostgreSQL needs the 'embedded' extra: pip install -e '.[embedded]'") from error
    data_dir.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(data_dir.resolve() / "postgres", cleanup_mode="stop")
    url = server.get_uri()
    log.info("embedded PostgreSQL at %s", url)
    return url


def mosquitto_binary() -> str | None:
    return shutil.which("mosquitto") or next(
        (p for p in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto") if os.path.exists(p)), None
    )


def broker_config(data_dir: Path, port: int) -> Path:
    """The shipped config with this broker's port and data directory."""
    lines = []
    for line in BROKER_CONFIG.read_text().splitlines():
        if line.startswith("listener "):
            line = f"listener {port} 127.0.0.1"
        elif line.startswith("persistence_location "):
            line = f"persistence_location {data_dir.resolve()}/"
        lines.append(line)
    if os.geteuid() == 0:
        # As root, Mosquitto drops to the `mosquitto` user, which cannot write our data
        # directory; persistence would then silently fail.
        lines.append("user root")
    path = data_dir / "mosquitto.conf"
    path.write_text("\n".join(lines) + "\n")
    return path


def start_broker(data_dir: Path, port: int | None = None) -> tuple[str, subprocess.Popen]:
    """Start Mosquitto with the project's config on a free port; stopped at exit."""
    binary = mosquitto_binary()
    if binary is None:
        raise RuntimeError(
            "Mosquitto is not installed. Install it (Debian/Ubuntu: apt-get install mosquitto; "
            "macOS: brew install mosquitto) or set PILECARE_MQTT_URL to an MQTT v5 broker."
        )
    data_dir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    config = broker_config(data_dir, port)
    log_file = open(data_dir / "mosquitto.log", "ab")
    process = subprocess.Popen([binary, "-c", str(config)], stdout=log_file, stderr=log_file)
    atexit.register(_terminate, process)
    wait_port(port)
    url = f"mqtt://127.0.0.1:{port}"
    log.info("Mosquitto %s at %s (data in %s)", binary, url, data_dir)
    return url, process


def terminate(processes: list[subprocess.Popen], grace_s: float = 20) -> None:
    """SIGTERM to all (so each shuts down cleanly, side by side), then kill the ones that
    are still running after the grace period."""
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(grace_s)
        except subprocess.TimeoutExpired:
            process.kill()


def _terminate(process: subprocess.Popen) -> None:
    terminate([process], 15)  # Mosquitto saves its persistence file on SIGTERM

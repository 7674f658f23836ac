"""Browser-test plumbing: the API in a real uvicorn server on a free port, Debian's
Chromium driven by Selenium through Debian's chromedriver, and telemetry history for
charts to draw.

Only the system's browser is used: no tool that downloads its own. test.sh installs the
`chromium` and `chromium-driver` packages; without them the tests fail and say so.
"""
from __future__ import annotations

import math
import shutil
import socket
import tempfile
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import uvicorn

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
SIZE = (1366, 900)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """create_app(settings) served by uvicorn in a thread, as `pilecare api` would."""

    def __init__(self, app):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        # timeout_graceful_shutdown: open event streams must not hold the test's teardown.
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                timeout_graceful_shutdown=2)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> "Server":
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise AssertionError("the API server did not start")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(15)


def chromium_problem() -> str | None:
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not Path(p).exists() and not shutil.which(Path(p).name)]
    if missing:
        return (f"{' and '.join(missing)} missing: the browser tests need Debian's chromium and chromium-driver "
                "(./test.sh installs them: apt-get install chromium chromium-driver)")
    return None


def chrome():
    """A headless Chromium with a fresh profile whose console log we can read."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="pilecare-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--no-first-run", "--disable-extensions", f"--user-data-dir={profile}",
                 f"--window-size={SIZE[0]},{SIZE[1]}", "--lang=en-GB"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # An explicit driver path: Selenium Manager never tries to download one.
    driver = webdriver.Chrome(service=Service(executable_path=shutil.which("chromedriver") or CHROMEDRIVER),
                              options=options)
    # The viewport itself at SIZE (window-size counts the window's frame too).
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": SIZE[0], "height": SIZE[1], "deviceScaleFactor": 1, "mobile": False})
    driver.implicitly_wait(0)
    driver.profile_dir = profile
    return driver


def quit_chrome(driver) -> None:
    try:
        driver.quit()
    finally:
        shutil.rmtree(driver.profile_dir, ignore_errors=True)


def backfill_telemetry(db, pile_id: str, *, hours: float = 6, every_s: int = 60, connectors: int = 2) -> int:
    """History for a pile's charts: charging sessions with power, heating and energy.

    Sequence numbers start far above what the simulator will use, so the rows it sends
    later never collide with these."""
    now = datetime.now(timezone.utc).replace(microsecond=0)
    steps = int(hours * 3600 / every_s)
    rows, energy = [], [0.0] * (connectors + 1)
    for i in range(steps):
        at = now - timedelta(seconds=(steps - i) * every_s)
        for c in range(1, connectors + 1):
            # Sessions come and go: a sine envelope per connector, clipped at zero.
            level = max(0.0, math.sin(i / 9 + c * 1.7))
            power = round(22 * level, 2)
            energy[c] += power * every_s / 3600
            rows.append((at, pile_id, c, 10_000_000 + i, at, at, "Charging" if power > 0 else "Available", "NoError",
                         400.0 if power else 0.0, power * 2.5, power, round(energy[c], 3), 24 + 14 * level))
    with db.cursor() as cur:
        cur.executemany(
            "INSERT INTO telemetry (time, pile_id, connector_id, seq, device_ts, received_at, status, error_code, "
            "voltage_v, current_a, power_kw, energy_kwh, temp_c) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, "
            "%s, %s, %s)", rows)
    return len(rows)

"""The operator console in a real browser: Debian's headless Chromium driven by Selenium
through Debian's chromedriver, for the console's browser test and `pilecare docs screenshots`.

Only the system's browser is used: no tool that downloads its own. test.sh installs the
`chromium` and `chromium-driver` packages; without them both fail and say so. Selenium
comes with the `test` and `docs` extras.
"""
from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
SIZE = (1366, 900)
# The engineer's app is pictured and tested on a phone: an iPhone 12-14's viewport in CSS px.
PHONE = (390, 844)


def chromium_problem() -> str | None:
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not Path(p).exists() and not shutil.which(Path(p).name)]
    if missing:
        return (f"{' and '.join(missing)} missing: the console's browser needs Debian's chromium and "
                "chromium-driver (./test.sh installs them: apt-get install chromium chromium-driver)")
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is missing: pip install -e '.[docs]'"
    return None


# Chromium flags for a machine without internet: every request that is not to this machine
# goes to a proxy on the discard port, where nothing listens (loopback always goes direct).
OFFLINE = ("--proxy-server=http://127.0.0.1:9",)


def chrome(flags: tuple[str, ...] = (), phone: bool = False):
    """A headless Chromium with a fresh profile whose console log we can read; `flags` are
    added to Chromium's command line (e.g. OFFLINE). `phone`: a PHONE-sized mobile viewport
    with touch (the engineer's app), else a SIZE desktop one (the console)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    size = PHONE if phone else SIZE
    profile = tempfile.mkdtemp(prefix="pilecare-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--no-first-run", "--disable-extensions", f"--user-data-dir={profile}",
                 f"--window-size={size[0]},{size[1]}", "--lang=en-GB", *flags):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # An explicit driver path: Selenium Manager never tries to download one.
    driver = webdriver.Chrome(service=Service(executable_path=shutil.which("chromedriver") or CHROMEDRIVER),
                              options=options)
    # The viewport itself at `size` (window-size counts the window's frame too); pictures
    # at one device pixel per CSS pixel, so a phone's screenshot is 390 × 844.
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": size[0], "height": size[1], "deviceScaleFactor": 1, "mobile": phone})
    if phone:
        driver.execute_cdp_cmd("Emulation.setTouchEmulationEnabled", {"enabled": True, "maxTouchPoints": 5})
    driver.implicitly_wait(0)
    driver.profile_dir = profile
    driver.size = size
    return driver


def quit_chrome(driver) -> None:
    try:
        driver.quit()
    finally:
        shutil.rmtree(driver.profile_dir, ignore_errors=True)


class Browser:
    """The console at `url` in a fresh Chromium, plus the console log gathered as we go
    (reading it drains it); screenshots go to the folder `shots`."""

    def __init__(self, url: str, shots: Path, flags: tuple[str, ...] = (), phone: bool = False):
        self.d, self.url, self.shots, self.log = chrome(flags, phone), url, Path(shots), []

    def __enter__(self) -> "Browser":
        return self

    def __exit__(self, *exc) -> None:
        self.quit()

    def quit(self) -> None:
        quit_chrome(self.d)

    def open(self, path: str):
        self.d.get(self.url + path)

    def wait(self, check, timeout: float = 15, message: str = "the page"):
        from selenium.webdriver.support.ui import WebDriverWait

        try:
            return WebDriverWait(self.d, timeout, poll_frequency=0.1).until(lambda d: check(d))
        except Exception as error:
            self.drain()
            raise TimeoutError(f"timed out waiting for {message}; browser log: {self.log}") from error

    def js(self, script: str, *args):
        return self.d.execute_script(script, *args)

    def text(self, selector: str) -> str:
        return self.js("const e = document.querySelector(arguments[0]); return e ? e.textContent : null", selector)

    def exists(self, selector: str) -> bool:
        return bool(self.js("return !!document.querySelector(arguments[0])", selector))

    def click(self, selector: str):
        self.js("document.querySelector(arguments[0]).click()", selector)

    def route(self, hash_: str, ready: str):
        self.js("location.hash = arguments[0]", hash_)
        self.wait(lambda d: self.exists(ready), message=f"{hash_} to render {ready}")

    def login(self, user: str, password: str):
        from selenium.webdriver.common.by import By

        self.open("/")
        # The form is in the HTML before login.js (a module, run after parsing) handles its submit.
        self.wait(lambda d: d.current_url.endswith("/login") and self.exists("#login[data-ready=true]"),
                  message="the login page")
        self.d.find_element(By.ID, "username").send_keys(user)
        self.d.find_element(By.ID, "password").send_keys(password)
        self.d.find_element(By.ID, "login-submit").click()
        try:
            self.wait(lambda d: self.js("return document.body.dataset.ready === 'true'"), message=f"{user} logged in")
        except TimeoutError as error:
            raise TimeoutError(f"{error}; the page: {self._login_state()}") from None

    def _login_state(self) -> dict:
        """Where a login that did not finish stands: the URL, the form's state, the cookies' names."""
        state = self.js("const f = document.getElementById('login'), e = document.getElementById('login-error');"
                        "return {url: location.href, readyState: document.readyState,"
                        " form: f ? {ready: f.dataset.ready, username: f.username.value,"
                        "  submitting: f.querySelector('button').disabled} : null,"
                        " error: e && !e.hidden ? e.textContent : null}")
        return state | {"cookies": sorted(c["name"] for c in self.d.get_cookies())}

    def locate(self, lat: float, lon: float, accuracy_m: float = 10):
        """The page may read the position, and the position is (lat, lon): a phone's GPS."""
        self.d.execute_cdp_cmd("Browser.grantPermissions", {"origin": self.url, "permissions": ["geolocation"]})
        self.d.execute_cdp_cmd("Emulation.setGeolocationOverride",
                               {"latitude": lat, "longitude": lon, "accuracy": accuracy_m})

    def refuse_location(self):
        """The person said no when the page asked for the position."""
        self.d.execute_cdp_cmd("Browser.setPermission", {"origin": self.url, "permission": {"name": "geolocation"},
                                                         "setting": "denied"})

    def network(self, online: bool):
        """Cut the page's network (requests fail at once, navigator.onLine is false) or give it back."""
        self.d.execute_cdp_cmd("Network.enable", {})
        self.d.execute_cdp_cmd("Network.emulateNetworkConditions", {"offline": not online, "latency": 0,
                                                                    "downloadThroughput": -1, "uploadThroughput": -1})

    def shot(self, name: str, top: bool = True) -> Path:
        """The viewport as a PNG in `shots`; `top`: scrolled to the top first (else where it is)."""
        self.shots.mkdir(parents=True, exist_ok=True)
        # As a person would: toasts dismissed, nothing focused, at the top of the page.
        self.js("document.querySelectorAll('#toasts .toast-close').forEach(b => b.click());"
                "document.activeElement && document.activeElement.blur(); if (arguments[0]) window.scrollTo(0, 0)", top)
        time.sleep(0.2)  # let a just-drawn chart settle
        path = self.shots / f"{name}.png"
        self.d.save_screenshot(str(path))
        return path

    def drain(self):
        self.log.extend(self.d.get_log("browser"))

    def errors(self) -> list[str]:
        """Every SEVERE entry of the browser's console log: failed requests included."""
        self.drain()
        return [entry["message"] for entry in self.log if entry["level"] == "SEVERE"]

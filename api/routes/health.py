"""Liveness of the platform's two dependencies."""
from __future__ import annotations

import threading
import time

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from api.deps import Conn, SettingsDep
from gateway import mqtt

router = APIRouter(tags=["health"])

_BROKER_CACHE_S = 5.0
_broker_checked: dict[str, tuple[float, str]] = {}


def _check_broker(settings) -> str:
    """Connect and disconnect with a 2 s budget; cached briefly so probes stay cheap."""
    key = settings.mqtt_url or ""
    cached = _broker_checked.get(key)
    if cached and time.monotonic() - cached[0] < _BROKER_CACHE_S:
        return cached[1]
    target = settings.mqtt()
    connected = threading.Event()
    client = mqtt.client(target, f"pilecare-health-{threading.get_ident()}")
    client.on_connect = lambda c, u, f, rc, p: (not rc.is_failure) and connected.set()
    try:
        mqtt.connect(client, target, persistent=False, keepalive=5)
        client.loop_start()
        result = "ok" if connected.wait(2.0) else "no answer from the broker within 2 s"
    except OSError as error:
        result = f"unreachable: {error}"
    finally:
        client.loop_stop()
        try:
            client.disconnect()
        except Exception:
            pass
    _broker_checked[key] = (time.monotonic(), result)
    return result


@router.get("/health", summary="Database and broker reachability (503 when either is down)")
async def health(conn: Conn, settings: SettingsDep):
    try:
        await run_in_threadpool(conn.execute, "SELECT 1")
        database = "ok"
    except Exception as error:  # any failure is reported, not raised
        database = f"error: {error}"
    broker = await run_in_threadpool(_check_broker, settings)
    ok = database == "ok" and broker == "ok"
    return JSONResponse(status_code=200 if ok else 503,
                        content={"status": "ok" if ok else "degraded", "database": database, "broker": broker})

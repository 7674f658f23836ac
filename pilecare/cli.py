"""The `pilecare` command."""
from __future__ import annotations

import argparse
import logging
import sys

from pilecare.settings import get_settings


def _migrate(args) -> None:
    from pilecare.db import connect
    from pilecare.migrate import migrate
    from pilecare.storage import TimescaleUnavailable

    settings = get_settings()
    with connect(settings) as conn:
        try:
            applied = migrate(conn, settings)
        except TimescaleUnavailable as error:
            raise SystemExit(f"pilecare migrate: {error}") from None
    print("applied: " + ", ".join(applied) if applied else "database is up to date")


def _ingest(args) -> None:
    from ingest.worker import main

    main(get_settings())


def _maintenance(args) -> None:
    from maintenance.worker import main

    main(get_settings())


def _api(args) -> None:
    import uvicorn

    settings = get_settings()
    uvicorn.run("api.app:create_app", factory=True, host=args.host or settings.api_host,
                port=args.port or settings.api_port, log_level="info")


def _smtp(args) -> None:
    from maintenance.servicedesk.smtp_listener import main

    settings = get_settings()
    update = {k: v for k, v in (("smtp_host", args.host), ("smtp_port", args.port)) if v}
    main(settings.model_copy(update=update))


def _ocpp(args) -> None:
    from gateway.ocpp.server import main

    settings = get_settings()
    update = {k: v for k, v in (("ocpp_host", args.host), ("ocpp_port", args.port)) if v is not None}
    main(settings.model_copy(update=update))


def _broker_auth(args) -> None:
    from gateway.broker_auth import main

    main(get_settings(), args)


def _simulate(args) -> None:
    from simulators.runner import main

    main(get_settings(), args)


def _desk_crowd(args) -> None:
    from simulators.desk_crowd import main

    main(get_settings(), args)


def _parts_keeper(args) -> None:
    from simulators.parts_keeper import main

    main(get_settings(), args)


def _crew(args) -> None:
    from simulators.field_crew import main

    main(get_settings(), args)


def _seed(args) -> None:
    from pilecare.db import connect
    from simulators.fleetgen import seed_fleet

    settings = get_settings()
    with connect(settings) as conn:
        summary = seed_fleet(conn, piles=args.piles, seed=args.seed)
    print(summary)


def _bench(args) -> None:
    if args.what == "ingest":
        from simulators.bench.ingest import main
    elif args.what == "faults":
        from simulators.bench.faults import main
    elif args.what == "dispatch":
        from simulators.bench.dispatch import main
    elif args.what == "api":
        from simulators.bench.api import main
    elif args.what == "desk":
        from simulators.bench.desk import main
    elif args.what == "desk-mail":
        from simulators.bench.desk_mail import main
    elif args.what == "reports":
        from simulators.bench.reports import main
    elif args.what == "ocpp":
        from simulators.bench.ocpp import main
    else:
        raise SystemExit(f"unknown benchmark {args.what!r}")
    main(args)


def _users(args) -> None:
    import getpass
    import os

    from api import accounts
    from pilecare.db import connect
    from pilecare.errors import PilecareError

    settings = get_settings()
    actor = f"cli:{getpass.getuser()}"
    with connect(settings) as conn:
        if args.users_command == "list":
            for row in conn.execute("SELECT id, role, full_name, active FROM users ORDER BY id").fetchall():
                print("\t".join(str(v) for v in (row.values() if isinstance(row, dict) else row)))
            return
        try:
            # The way back in when the only admin is locked out or has lost the password.
            if args.users_command == "unlock":
                cleared = accounts.unlock(conn, args.id, actor=actor)
                print(f"unlocked {args.id} ({cleared} recent failed logins forgotten)")
                return
            # The password never goes on the command line (shell history, ps): the
            # environment or a prompt.
            password = os.environ.get("PILECARE_PASSWORD") or getpass.getpass(f"password for {args.id}: ")
            if args.users_command == "password":
                accounts.update(conn, args.id, actor=actor, password=password)
                print(f"password of {args.id} changed; its login locks are lifted")
                return
            user = accounts.create(conn, args.id, role=accounts.Role(args.role), full_name=args.name or args.id,
                                   password=password, actor=actor, email=args.email, engineer_id=args.engineer,
                                   customer_id=args.customer)
        except PilecareError as error:
            raise SystemExit(f"pilecare users {args.users_command}: {error.detail}") from None
    print(f"created {user.id} ({user.role.value})")


def _run(args) -> None:
    from pilecare.run import main

    main(args)


def _schema(args) -> None:
    from gateway.schema import write_schemas

    for path in write_schemas():
        print(path)


def _docs(args) -> None:
    from simulators.screenshots import main

    main(args)


def add_simulate_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--piles", type=int, default=None, help="simulate the first N piles of the registry (default: all)")
    p.add_argument("--interval", type=float, default=None, help="seconds between telemetry reports (default: the pile model's)")
    p.add_argument("--speed", type=float, default=1.0, help="time acceleration: simulated seconds per real second")
    p.add_argument("--duration", type=float, default=None, help="stop after this many real seconds (default: run forever)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--fault-rate", type=float, default=0.0,
                   help="faults per pile per day of the wall clock (the clock KPIs are measured in)")
    p.add_argument("--faults", default=None, help="comma-separated fault kinds to draw from (default: the whole catalogue)")
    p.add_argument("--mode", choices=("per-pile", "multiplexed"), default="per-pile",
                   help="per-pile: one MQTT client and last will per pile; multiplexed: few clients, for load")
    p.add_argument("--clients", type=int, default=4, help="MQTT clients in multiplexed mode")
    p.add_argument("--api", default=None,
                   help="follow this API's events and clear a pile's faults when an engineer completes its repair "
                        "(simulators/repairs.py; the demo-fleet account of --accounts)")
    p.add_argument("--accounts", default=None, help="the crew-accounts file (default: <data dir>/crew-accounts)")
    p.add_argument("--credentials", default=None,
                   help="per-pile mode: a file of 'pile_id password' lines; each pile connects as itself "
                        "(`pilecare run` writes <data dir>/device-credentials)")
    p.add_argument("--bad-repair-share", type=float, default=0.1,
                   help="with --api: share of completed repairs that do not hold (the fault stays, the order reopens)")


def _roles():
    from api.accounts import Role

    return Role


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="pilecare", description="EV charging-pile maintenance platform")
    p.add_argument("-v", "--verbose", action="store_true")
    sub = p.add_subparsers(dest="command", required=True)

    sub.add_parser("migrate", help="apply database migrations").set_defaults(func=_migrate)
    sub.add_parser("ingest", help="run an ingest worker").set_defaults(func=_ingest)
    sub.add_parser("maintenance", help="run the rules engine (alarms, work orders)").set_defaults(func=_maintenance)

    api = sub.add_parser("api", help="run the HTTP API")
    api.add_argument("--host")
    api.add_argument("--port", type=int)
    api.set_defaults(func=_api)

    smtp = sub.add_parser("smtp", help="run the service desk's inbound SMTP listener (mail becomes requests)")
    smtp.add_argument("--host", help="listen address (default PILECARE_SMTP_HOST, 127.0.0.1)")
    smtp.add_argument("--port", type=int, help="listen port (default PILECARE_SMTP_PORT, 2525)")
    smtp.set_defaults(func=_smtp)

    ocpp = sub.add_parser("ocpp", help="run the OCPP 1.6-J / 2.0.1 central system chargers connect to (docs/ocpp.md)")
    ocpp.add_argument("--host", help="listen address (default PILECARE_OCPP_HOST, 127.0.0.1)")
    ocpp.add_argument("--port", type=int, help="listen port (default PILECARE_OCPP_PORT, 9000)")
    ocpp.set_defaults(func=_ocpp)

    auth = sub.add_parser("broker-auth", help="write the broker's password and ACL files from PostgreSQL and keep "
                                              "them in step (SIGHUP to the broker on every change)")
    auth.add_argument("--password-file", required=True)
    auth.add_argument("--acl-file", required=True)
    auth.add_argument("--broker-pid", type=int, default=None, help="the broker's process id (docker: 1, sharing its pid namespace)")
    auth.add_argument("--broker-pid-file", default=None, help="or the broker's pid_file")
    auth.add_argument("--accounts-from-env", action="store_true",
                      help="first set each service account's password from PILECARE_BROKER_PASSWORD_<ROLE> where set")
    auth.add_argument("--once", action="store_true", help="render once and exit")
    auth.add_argument("--tls-dir", default=None,
                      help="generate a CA and a server certificate here when there are none (a test deployment; "
                           "production brings its own, README)")
    auth.add_argument("--tls-host", action="append", default=None,
                      help="a name or address the generated certificate is for (repeatable; default: localhost, "
                           "127.0.0.1, mosquitto)")
    auth.set_defaults(func=_broker_auth)

    sim = sub.add_parser("simulate", help="run a simulated fleet of piles")
    add_simulate_arguments(sim)
    sim.set_defaults(func=_simulate)

    crew = sub.add_parser("crew", help="the demo's field crew: simulated engineers working their orders "
                                       "through the field API (simulators/field_crew.py)")
    crew.add_argument("--api", default=None, help="the API's URL (default: the running `pilecare run`'s)")
    crew.add_argument("--accounts", default=None, help="the crew-accounts file (default: <data dir>/crew-accounts)")
    crew.add_argument("--speed", type=float, default=30.0, help="the simulation's speed: drives and work on site "
                                                                "take 1/speed of their time")
    crew.add_argument("--seed", type=int, default=1)
    crew.add_argument("--decline-share", type=float, default=0.1, help="share of offers declined, with a reason")
    crew.add_argument("--poll", type=float, default=5.0, help="seconds between an idle engineer's looks at the phone")
    crew.set_defaults(func=_crew)

    crowd = sub.add_parser("desk-crowd", help="the demo's service desk: customers who mail, call and use the portal, "
                                              "agents who work the inbox (simulators/desk_crowd.py)")
    crowd.add_argument("--api", default=None, help="the API's URL (default: the running `pilecare run`'s)")
    crowd.add_argument("--smtp", default=None, help="the SMTP listener, host:port (default: the running one's)")
    crowd.add_argument("--accounts", default=None, help="the crew-accounts file (default: <data dir>/crew-accounts)")
    crowd.add_argument("--speed", type=float, default=30.0, help="the simulation's speed")
    crowd.add_argument("--seed", type=int, default=1)
    crowd.set_defaults(func=_desk_crowd)

    keeper = sub.add_parser("parts-keeper", help="the demo's parts keeper: restocks vans, orders from suppliers, "
                                                 "receives and inspects, ships claims, stock-takes "
                                                 "(simulators/parts_keeper.py)")
    keeper.add_argument("--api", default=None, help="the API's URL (default: the running `pilecare run`'s)")
    keeper.add_argument("--accounts", default=None, help="the crew-accounts file (default: <data dir>/crew-accounts)")
    keeper.add_argument("--speed", type=float, default=30.0, help="the simulation's speed: suppliers' lead times "
                                                                  "take 1/speed of their time")
    keeper.add_argument("--seed", type=int, default=1)
    keeper.set_defaults(func=_parts_keeper)

    fleet = sub.add_parser("fleet", help="fleet registry").add_subparsers(dest="fleet_command", required=True)
    seed = fleet.add_parser("seed", help="create a deterministic, realistic fleet")
    seed.add_argument("--piles", type=int, default=200)
    seed.add_argument("--seed", type=int, default=1)
    seed.set_defaults(func=_seed)

    bench = sub.add_parser("bench", help="benchmarks (last output line is JSON)")
    bench.add_argument("what", choices=("ingest", "faults", "dispatch", "api", "desk", "desk-mail", "reports", "ocpp"))
    bench.add_argument("--seconds", type=float, default=60.0, help="length of the measured drain / run")
    bench.add_argument("--piles", type=int, default=1000, help="piles (faults: those carrying the background load)")
    bench.add_argument("--rate", type=float, default=2500.0, help="faults: background messages per second")
    bench.add_argument("--faults", type=int, default=200, help="faults: how many faults to report during the run")
    bench.add_argument("--publishers", type=int, default=1, help="faults: background publisher processes")
    bench.add_argument("--work-orders", type=int, default=2000, help="dispatch: ready work orders")
    bench.add_argument("--engineers", type=int, default=200, help="dispatch: engineers")
    bench.add_argument("--customers", type=int, default=2000, help="desk: customers")
    bench.add_argument("--requests", type=int, default=100_000, help="desk: requests over the past year")
    bench.add_argument("--fleet", type=int, default=5000, help="reports: piles in the fleet (12 months of history)")
    bench.add_argument("--mails", type=int, default=2000, help="desk, desk-mail: mails sent to the SMTP listener")
    bench.add_argument("--connections", type=int, default=4, help="desk, desk-mail: sending SMTP connections at once")
    bench.add_argument("--chargers", type=int, default=2000, help="ocpp: simulated chargers on one gateway")
    bench.add_argument("--ocpp-rate", type=float, default=1200.0, help="ocpp: CALLs per second across the fleet")
    bench.add_argument("--clients", type=int, default=2, help="ocpp: load-generator processes")
    bench.add_argument("--workers", type=int, default=1, help="ocpp: ingest processes (a shared subscription)")
    bench.add_argument("--storm", action="store_true", help="ocpp: then kill -9 the gateway and time the reconnect storm")
    bench.add_argument("--down", type=float, default=5.0, help="ocpp --storm: seconds the gateway stays down")
    bench.add_argument("--storm-settle", type=float, default=40.0, help="ocpp --storm: seconds the chargers run after the restart")
    bench.set_defaults(func=_bench)

    run = sub.add_parser("run", help="everything at once: database, broker, ingest, API, simulated fleet")
    run.add_argument("--piles", type=int, default=200)
    run.add_argument("--port", type=int, default=None)
    run.add_argument("--interval", type=float, default=10.0, help="seconds between telemetry reports")
    run.add_argument("--speed", type=float, default=30.0, help="simulated seconds per real second")
    run.add_argument("--fault-rate", type=float, default=3.0,
                     help="faults per pile per day of the wall clock (the clock KPIs are measured in)")
    run.add_argument("--bad-repair-share", type=float, default=0.1,
                     help="share of the demo crew's repairs that do not hold (verification fails, the order reopens)")
    run.add_argument("--no-crew", action="store_true", help="no simulated crew: every offer waits for a person")
    run.add_argument("--verify-minutes", type=float, default=5.0,
                     help="the demo's verification hold-off: healthy this long after a repair before the order is "
                          "verified (the shipped policy's 30 min is for real piles; ignored with PILECARE_POLICY_FILE)")
    run.set_defaults(func=_run)

    users = sub.add_parser("users", help="accounts").add_subparsers(dest="users_command", required=True)
    create = users.add_parser("create", help="create an account (password from PILECARE_PASSWORD or a prompt)")
    create.add_argument("id", help="login name: lower-case letters, digits, . _ -")
    create.add_argument("--role", required=True, choices=[r.value for r in _roles()])
    create.add_argument("--name", help="full name")
    create.add_argument("--email")
    create.add_argument("--engineer", help="engineers: the engineer record this login is")
    create.add_argument("--customer", help="role customer (the portal): the customer this login belongs to")
    create.set_defaults(func=_users)
    users.add_parser("list", help="list accounts").set_defaults(func=_users)
    unlock = users.add_parser("unlock", help="lift every failed-login lock on an account (docs/roles.md)")
    unlock.add_argument("id")
    unlock.set_defaults(func=_users)
    password = users.add_parser("password", help="set an account's password (from PILECARE_PASSWORD or a prompt); "
                                                 "lifts its login locks")
    password.add_argument("id")
    password.set_defaults(func=_users)

    sub.add_parser("schema", help="write the device protocol JSON Schemas").set_defaults(func=_schema)

    docs = sub.add_parser("docs", help="the documentation's generated parts").add_subparsers(
        dest="docs_command", required=True)
    shots = docs.add_parser("screenshots", help="take the README's console screenshots in headless Chromium "
                                                "on a throwaway fleet (needs Debian's chromium and chromium-driver)")
    shots.add_argument("--out", help="folder for the PNGs (default: docs/screenshots/ of this checkout)")
    shots.set_defaults(func=_docs)
    return p


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # pgserver logs every pg_ctl call with its full output at INFO.
    logging.getLogger("pgserver").setLevel(logging.WARNING)
    # APScheduler logs every job run at INFO: twice a minute of noise per process.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    # aiosmtpd logs every SMTP command of every connection at INFO.
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    # The ocpp package logs every frame sent and received at INFO, and websockets every
    # connection opened and closed: two lines per message and a storm of lines on a restart.
    # `pilecare bench ocpp` measured them at a large share of the gateway's CPU.
    logging.getLogger("ocpp").setLevel(logging.WARNING)
    logging.getLogger("websockets.server").setLevel(logging.WARNING)
    import psycopg

    from pilecare.errors import PilecareError

    try:
        args.func(args)
    except PilecareError as error:  # e.g. no database configured and no `pilecare run` here
        raise SystemExit(f"pilecare {args.command}: {error.detail}") from None
    except psycopg.OperationalError as error:
        first = (str(error).strip().splitlines() or ["unreachable"])[0]
        raise SystemExit(f"pilecare {args.command}: cannot reach the database: {first}") from None


if __name__ == "__main__":
    main()

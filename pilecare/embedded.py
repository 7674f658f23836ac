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


def broker_config(data_dir: Path, port: int, tls_port: int | None = None) -> Path:
    """The shipped config for a local broker: plain MQTT on 127.0.0.1:`port`, TLS on
    127.0.0.1:`tls_port` (a free port when None) with a locally generated certificate
    (`local_tls`), and its persistence, password, ACL and pid files in `data_dir`.

    The password and ACL files are created empty when missing (nobody may connect until
    gateway/broker_auth.py renders them)."""
    data_dir = data_dir.resolve()
    tls = local_tls(data_dir / "tls")
    files = {"password_file": data_dir / "passwords", "acl_file": data_dir / "acl"}
    for path in files.values():
        if not path.exists():
            path.touch(mode=0o600)
    replacements = {
        "persistence_location": f"{data_dir}/",
        **{k: str(v) for k, v in files.items()},
        "certfile": str(tls.server_cert),
        "keyfile": str(tls.server_key),
    }
    lines = []
    for line in BROKER_CONFIG.read_text().splitlines():
        key = line.split(" ", 1)[0]
        if line.startswith("listener 8883"):
            line = f"listener {tls_port or free_port()} 127.0.0.1"
        elif line.startswith("listener "):
            line = f"listener {port} 127.0.0.1"
        elif key in replacements:
            line = f"{key} {replacements[key]}"
        lines.append(line)
    # Where `pilecare broker-auth --broker-pid-file` finds the process to SIGHUP.
    lines.append(f"pid_file {data_dir / 'mosquitto.pid'}")
    if os.geteuid() == 0:
        # As root, Mosquitto drops to the `mosquitto` user, which cannot write our data
        # directory; persistence would then silently fail.
        lines.append("user root")
    path = data_dir / "mosquitto.conf"
    path.write_text("\n".join(lines) + "\n")
    return path


class LocalTls:
    """A local CA and the broker's certificate signed by it (PEM files in one folder)."""

    def __init__(self, folder: Path):
        self.ca_cert, self.server_cert, self.server_key = folder / "ca.crt", folder / "server.crt", folder / "server.key"


def local_tls(folder: Path, hosts: tuple[str, ...] = ("localhost", "127.0.0.1")) -> LocalTls:
    """Generate (once) a CA and a server certificate for `hosts`, valid ten years, for a
    local broker's TLS listener; clients trust `ca_cert` (PILECARE_MQTT_CA_FILE). Built with
    the `cryptography` package; production brokers use a real CA (README)."""
    import ipaddress
    from datetime import datetime, timedelta, timezone

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    tls = LocalTls(folder)
    if tls.ca_cert.exists() and tls.server_cert.exists() and tls.server_key.exists():
        return tls
    folder.mkdir(parents=True, exist_ok=True)
    now = datetime.now(timezone.utc)

    def certificate(subject, issuer, public_key, signing_key, *, ca: bool, names=()):
        builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(public_key)
                   .serial_number(x509.random_serial_number())
                   .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days=3650))
                   .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        if ca:
            builder = builder.add_extension(x509.KeyUsage(
                digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                key_encipherment=False, data_encipherment=False, key_agreement=False, encipher_only=False,
                decipher_only=False), critical=True)
        else:
            builder = builder.add_extension(x509.SubjectAlternativeName(list(names)), critical=False)
            builder = builder.add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]),
                                            critical=False)
        return builder.sign(signing_key, hashes.SHA256())

    ca_key, server_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pilecare local CA")])
    ca = certificate(ca_name, ca_name, ca_key.public_key(), ca_key, ca=True)
    names = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    server = certificate(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])]), ca_name,
                         server_key.public_key(), ca_key, ca=False, names=names)
    tls.ca_cert.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    tls.server_cert.write_bytes(server.public_bytes(serialization.Encoding.PEM))
    tls.server_key.write_bytes(server_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                        serialization.NoEncryption()))
    tls.server_key.chmod(0o600)
    return tls


def start_broker(data_dir: Path, port: int | None = None, tls_port: int | None = None) -> tuple[str, subprocess.Popen]:
    """Start Mosquitto with the project's config on a free port (TLS on `tls_port`, else a
    free one); stopped at exit. Its password and ACL files (in `data_dir`) should already
    be rendered (gateway/broker_auth.py): a broker with empty ones refuses everybody."""
    binary = mosquitto_binary()
    if binary is None:
        raise RuntimeError(
            "Mosquitto is not installed. Install it (Debian/Ubuntu: apt-get install mosquitto; "
            "macOS: brew install mosquitto) or set PILECARE_MQTT_URL to an MQTT v5 broker."
        )
    data_dir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    config = broker_config(data_dir, port, tls_port)
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

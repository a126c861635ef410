"""Planning at scale: the input's footers and identities read one at a time against
concurrently (2,000 small files on a local S3 server), and the driver's peak memory
while it checks 1M and 10M ids (100 files).

The S3 server is moto in a process of its own (`moto_server`), so that its CPU is not
the planner's: on a real object store the server's work happens elsewhere too. Planning
is what `k2batch validate` and `run` do before any engine starts: list the input, read
every footer (jobs/plan/input_files.py), check the ids (jobs/plan/id_check.py).
Each memory figure comes from a fresh process (its own peak RSS); for reference, the
same process also runs the check as it was before issue 16: every id in one array.

python -m benchmarks.planning [--quick] [--json out.json]
"""

import argparse
import io
import os
import resource
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from benchmarks import workload

TARGET_SPEEDUP = 4.0
TARGET_PEAK_GIB = 1.0
TARGET_GROWTH = 1.3
ROWS_PER_SMALL_FILE = 20
ID_FILES = 100
REPEATS = 2
# An object store answers a small GET in tens of milliseconds (AWS's S3 performance
# guidelines); moto on localhost in about one.
LATENCY_MS = 20.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke test")
    parser.add_argument("--json", default=None, help="write the results here")
    parser.add_argument("--ids-folder", help=argparse.SUPPRESS)  # child mode: check the ids of this folder
    parser.add_argument("--all-in-memory", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--serve-s3", type=float, help=argparse.SUPPRESS)  # child mode: the S3 server
    args = parser.parse_args()
    if args.serve_s3 is not None:
        serve_s3(args.serve_s3)
        return
    if args.ids_folder:
        workload.emit_child_result(check_ids_measured(Path(args.ids_folder), all_in_memory=args.all_in_memory))
        return
    files = 200 if args.quick else 2000
    ids = {"N": 100_000 if args.quick else 1_000_000, "10N": 1_000_000 if args.quick else 10_000_000}
    results = {"target_speedup": TARGET_SPEEDUP, "target_peak_gib": TARGET_PEAK_GIB, "target_growth": TARGET_GROWTH}
    results["s3"] = plan_s3_files(files)
    for store, r in results["s3"]["stores"].items():
        print(f"{files} files on S3 ({store}): one at a time {r['serial']['per_1000_files_s']:.1f} s per 1,000 files, "
              f"concurrent {r['concurrent']['per_1000_files_s']:.1f} s: "
              f"{r['speedup']:.1f}x", flush=True)
    root = workload.WORKDIR / "planning"
    memory = {}
    for label, count in ids.items():
        folder = write_ids(root / f"ids-{count}", count, ID_FILES)
        memory[label] = workload.run_child("planning", ["--ids-folder", str(folder)], log=root / f"ids-{label}.log")
        print(f"{count:,} ids: peak {memory[label]['peak_mib']:.0f} MiB ({memory[label]['seconds']:.1f} s)", flush=True)
    memory["10N, all in one array"] = workload.run_child("planning", ["--ids-folder", str(root / f"ids-{ids['10N']}"),
                                                                       "--all-in-memory"], log=root / "ids-old.log")
    results.update(ids=ids, id_files=ID_FILES, memory=memory,
                   growth=memory["10N"]["peak_mib"] / memory["N"]["peak_mib"],
                   peak_gib=memory["10N"]["peak_mib"] / 1024)
    workload.write_results(args.json, results)
    print(f"id check peak RSS 10N/N: {results['growth']:.2f} (target below {TARGET_GROWTH}); "
          f"all in one array: {memory['10N, all in one array']['peak_mib']:.0f} MiB")
    speedups = ", ".join(f"{r['speedup']:.1f}x {store}" for store, r in results["s3"]["stores"].items())
    print(f"planning {files} files concurrently: {speedups} (target {TARGET_SPEEDUP}x); "
          f"10M-id peak {results['peak_gib']:.2f} GiB (target below {TARGET_PEAK_GIB})")

def plan_s3_files(count: int) -> dict:
    """Plan `count` small files served by moto directly (localhost: each request costs
    only CPU) and through the latency proxy (as a remote store answers), one file at a
    time and concurrently; runs alternated so that both see the same machine."""
    from jobs.plan.id_check import ID_THREADS, check_ids
    from jobs.plan.input_files import PLANNING_THREADS, list_parquet_files, read_input_files
    from jobs.storage.filesystem import filesystem_for

    uri = "s3://planning/in/"
    with S3ServerProcess(LATENCY_MS) as server:
        client = server.client()
        client.create_bucket(Bucket="planning")
        upload_small_files(client, "planning", count)

        def plan(endpoint: str, footer_threads: int, id_threads: int) -> dict:
            fs, path = filesystem_for(uri, {"endpoint_url": endpoint, "key": "k", "secret": "s"})
            fs.invalidate_cache()
            started = time.perf_counter()
            listing = list_parquet_files(fs, path, uri)
            listed = time.perf_counter()
            files = read_input_files(fs, listing, threads=footer_threads)
            read = time.perf_counter()
            check_ids(fs, files, "doc_id", threads=id_threads)
            done = time.perf_counter()
            if len(files) != count or sum(f.rows for f in files) != count * ROWS_PER_SMALL_FILE:
                raise RuntimeError(f"planned {len(files)} files, {sum(f.rows for f in files)} rows")
            return {"listing_s": listed - started, "footers_s": read - listed, "ids_s": done - read, "total_s": done - started}

        stores = {"localhost": server.server_url, f"{LATENCY_MS:.0f} ms per request": server.endpoint_url}
        runs = {(store, mode): [] for store in stores for mode in ("serial", "concurrent")}
        for _ in range(REPEATS):
            for store, endpoint in stores.items():
                runs[store, "serial"].append(plan(endpoint, 1, 1))
                runs[store, "concurrent"].append(plan(endpoint, PLANNING_THREADS, ID_THREADS))
    out = {"files": count, "rows_per_file": ROWS_PER_SMALL_FILE, "threads": PLANNING_THREADS, "id_threads": ID_THREADS,
           "repeats": REPEATS,
           "latency_ms": LATENCY_MS, "stores": {}}
    for store in stores:
        result = {}
        for mode in ("serial", "concurrent"):
            measured = runs[store, mode]
            median = {part: statistics.median(run[part] for run in measured) for part in measured[0]}
            result[mode] = {**median, "per_1000_files_s": median["total_s"] * 1000 / count,
                            "total_runs_s": [run["total_s"] for run in measured]}
        result["speedup"] = result["serial"]["total_s"] / result["concurrent"]["total_s"]
        out["stores"][store] = result
    return out


def upload_small_files(client, bucket: str, count: int) -> None:
    def put(n: int) -> None:
        ids = [f"f{n:05d}-{i:03d}" for i in range(ROWS_PER_SMALL_FILE)]
        buffer = io.BytesIO()
        pq.write_table(pa.table({"doc_id": ids, "body": [f"article {i}" for i in ids]}), buffer)
        client.put_object(Bucket=bucket, Key=f"in/part-{n:05d}.parquet", Body=buffer.getvalue())

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(put, range(count)))


class S3ServerProcess:
    """moto's S3 server in a process of its own (`--serve-s3`), and in front of it, in
    the same process, a proxy that answers each request `latency_ms` late."""

    def __init__(self, latency_ms: float):
        self.latency_ms = latency_ms

    def __enter__(self):
        self.process = subprocess.Popen([sys.executable, "-m", "benchmarks.planning", "--serve-s3", str(self.latency_ms)],
                                        cwd=workload.ROOT, env={**os.environ, "PYTHONPATH": str(workload.ROOT)},
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        line = self.process.stdout.readline()
        if not line.startswith("ENDPOINTS "):
            raise RuntimeError(f"the S3 server process did not start: {line!r}")
        self.server_url, self.endpoint_url = line.split()[1:]
        return self

    def client(self):
        import boto3

        return boto3.client("s3", region_name="us-east-1", endpoint_url=self.server_url, aws_access_key_id="k",
                            aws_secret_access_key="s")

    def __exit__(self, *exc):
        self.process.stdin.close()  # the server process ends when its stdin does
        self.process.wait(timeout=60)


def serve_s3(latency_ms: float) -> None:
    """Child mode: moto, and the latency proxy in front of it, until stdin closes."""
    from tests.s3_server import Faults, FaultyProxy, MotoS3

    server = MotoS3()
    proxy = FaultyProxy(server.endpoint_url, Faults(fraction=0.0, latency_s=latency_ms / 1000))
    print(f"ENDPOINTS {server.endpoint_url} {proxy.endpoint_url}", flush=True)
    sys.stdin.read()
    proxy.stop()
    server.stop()


def write_ids(folder: Path, count: int, files: int) -> Path:
    """`count` distinct string ids in `files` Parquet files (kept between runs)."""
    per_file = count // files
    if len(list(folder.glob("*.parquet"))) == files:
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    for n in range(files):
        start = n * per_file
        ids = pa.array([f"doc-{i:010d}" for i in range(start, start + per_file)])
        pq.write_table(pa.table({"doc_id": ids}), folder / f"part-{n:03d}.parquet")
    return folder


def check_ids_measured(folder: Path, *, all_in_memory: bool) -> dict:
    """Child mode: list, read the footers and check the ids of `folder`; this process's peak RSS."""
    from jobs.plan.id_check import check_ids
    from jobs.plan.input_files import list_parquet_files, read_input_files
    from jobs.storage.filesystem import filesystem_for

    before_mib = peak_rss_mib()
    started = time.perf_counter()
    fs, path = filesystem_for(str(folder), {})
    files = read_input_files(fs, list_parquet_files(fs, path, str(folder)))
    if all_in_memory:
        check_all_in_one_array(fs, [f.path for f in files], "doc_id")
    else:
        check_ids(fs, files, "doc_id")
    return {"ids": sum(f.rows for f in files), "seconds": time.perf_counter() - started,
            "peak_before_mib": before_mib, "peak_mib": peak_rss_mib()}


def check_all_in_one_array(fs, paths: list[str], id_column: str) -> None:
    """The id check as it was before issue 16, for reference: every id in one array."""
    import pyarrow.compute as pc

    ids = pa.chunked_array([chunk for path in paths for chunk in pq.read_table(fs.open(path, "rb"), columns=[id_column]).column(0).chunks])
    counts = pc.value_counts(ids)
    if len(pc.filter(counts.field("values"), pc.greater(counts.field("counts"), 1))):
        raise ValueError("duplicate ids")


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


if __name__ == "__main__":
    main()

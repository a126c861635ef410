"""The stall guard on real runs (a real local Ray cluster, the real reader and writer, the
S3 server): each stall ends `k2batch run` with exit 4 and one line naming what was
stuck, instead of a hang. What hangs is real: an engine whose start never ends (a
stand-in, tests/jobs/driver/stand_in_engines.py), an object store that stops answering
the writer's uploads, or the reader's downloads (the S3 proxy holding those requests).
A wedged engine: test_operator_view.py.

The engine-start stall's output is on S3: its log, written locally while it ran, is
copied to the output although the run failed."""

import json
import re
import time
from pathlib import Path

import pytest

from examples.news_sample import write_sample
from tests.conftest import job_spec, run_cli, write_job
from tests.jobs.conftest import upload_folder
from tests.jobs.driver.test_resume import end_session, start_cli, wait_for
from tests.s3_server import TEST_KEY, TEST_SECRET, Faults

pytestmark = pytest.mark.engine

# The engine's start is timed from its own report that it began starting (jobs/watch/stall_guard.py); until
# then from the flow's start, so START_S must also cover a loaded machine starting the actor's process.
START_S, STALL_S = 15, 10
RAY_START_BOUND_S = 60  # a local Ray cluster starts well within it, on a loaded machine too
ENGINE_START_BOUND_S = 120  # as in test_fail_fast: Ray and the tiny engine start well within it
STAND_INS = "tests.jobs.driver.stand_in_engines"


def news(folder: Path) -> Path:
    write_sample(folder / "news", rows=8, files=1)
    return folder / "news"


def error_line(stderr: str) -> str:
    return stderr.strip().splitlines()[-1]


def test_an_engine_that_never_finishes_starting_ends_the_run_and_its_log_reaches_s3(tmp_path, tiny_model, s3_server,
                                                                                    bucket, s3_options):
    spec = job_spec(input={"uri": str(news(tmp_path))}, model={"source": str(tiny_model), "engine_start_timeout_s": START_S},
                    output={"uri": f"s3://{bucket}/out", "storage_options": s3_options})
    started = time.monotonic()
    result = run_cli("never_ready", "run", str(write_job(tmp_path, spec)), module=STAND_INS,
                     timeout=RAY_START_BOUND_S + 2 * START_S + 120)
    elapsed = time.monotonic() - started
    assert result.returncode == 4, result.stderr[-3000:]
    line = error_line(result.stderr)
    match = re.fullmatch(r"k2batch: error: stalled: engine start: no engine replica finished starting in (\d+) s "
                         rf"\(model\.engine_start_timeout_s is {START_S} s\); its log is in the run's log file; "
                         r"the run's log: (\S+/k2batch-logs/(\S+)/k2batch\.log)", line)
    assert match, result.stderr[-3000:]
    assert START_S <= int(match[1]) <= START_S + 5 and elapsed < RAY_START_BOUND_S + 2 * START_S + 30
    assert all(line.startswith("k2batch: ") for line in result.stderr.splitlines()), "quiet until the end"
    # The log of the failed run, copied to the output, with its timeline.
    folder = f"out/_logs/{match[3]}"
    assert s3_server.keys(bucket, folder) == [f"{folder}/k2batch.log", f"{folder}/timeline.json"]
    copied = s3_server.client().get_object(Bucket=bucket, Key=f"{folder}/k2batch.log")["Body"].read()
    assert copied == Path(match[2]).read_bytes() and b"Started a local Ray instance" in copied
    timeline = json.loads(s3_server.client().get_object(Bucket=bucket, Key=f"{folder}/timeline.json")["Body"].read())
    assert timeline["stalled"].startswith("stalled: engine start:") and timeline["engine_ready_s"] is None
    assert s3_server.keys(bucket, "out/_manifest/") == [] and TEST_SECRET.encode() not in copied


def test_an_output_store_that_stops_answering_the_writer_names_the_writer(tmp_path, tiny_model, s3_server, bucket,
                                                                          faulty_proxy):
    """The real engine answers every row; the store never answers the upload of a file
    to `_staging/`, so the answered rows are never written."""
    proxy = faulty_proxy(Faults(fraction=0.0))
    proxy.hold = lambda method, path: method == "PUT" and "/_staging/" in path and path.endswith(".parquet")
    options = {"endpoint_url": proxy.endpoint_url, "key": TEST_KEY, "secret": TEST_SECRET}
    spec = job_spec(input={"uri": str(news(tmp_path))}, model={"source": str(tiny_model), "stall_timeout_s": STALL_S},
                    output={"uri": f"s3://{bucket}/out", "storage_options": options})
    result = run_cli("run", str(write_job(tmp_path, spec)), timeout=ENGINE_START_BOUND_S + STALL_S + 120)
    assert result.returncode == 4, result.stderr[-3000:]
    assert re.fullmatch(rf"k2batch: error: stalled: the writer: 8 answered rows were not written for 1\d s "
                        rf"\(model\.stall_timeout_s is {STALL_S} s\); the run's log: \S+/k2batch\.log",
                        error_line(result.stderr)), result.stderr[-3000:]
    assert proxy.held >= 1 and s3_server.keys(bucket, "out/_manifest/") == []


def test_an_input_store_that_stops_answering_the_reader_names_the_input(tmp_path, tiny_model, s3_server, bucket,
                                                                        faulty_proxy):
    """Planning reads the input's footers; then the store stops answering, and the read
    tasks wait while an engine (up, without a model: a stand-in) waits for rows."""
    proxy = faulty_proxy(Faults(fraction=0.0))
    options = {"endpoint_url": proxy.endpoint_url, "key": TEST_KEY, "secret": TEST_SECRET}
    spec = job_spec(input={"uri": upload_folder(s3_server, news(tmp_path), bucket, "news"), "storage_options": options},
                    model={"source": str(tiny_model), "stall_timeout_s": STALL_S}, output={"uri": str(tmp_path / "out")})
    proc = start_cli(tmp_path, "ready_without_model", "run", str(write_job(tmp_path, spec)), module=STAND_INS)
    try:
        # Its start line comes once planning is done, before Ray starts: from then on no input request is answered.
        wait_for(lambda: (tmp_path / "stderr").read_text().startswith("k2batch: "), proc, "the run's start line", 300)
        proxy.hold = lambda method, path: "/news/" in path
        proc.wait(timeout=RAY_START_BOUND_S + STALL_S + 120)
    finally:
        proc.kill()
        end_session(proc.pid)
    stderr = (tmp_path / "stderr").read_text()
    assert proc.returncode == 4, stderr[-3000:]
    assert re.fullmatch(rf"k2batch: error: stalled: reading the input: the engines hold no rows and none was answered "
                        rf"for 1\d s \(model\.stall_timeout_s is {STALL_S} s\); the run's log: \S+/k2batch\.log",
                        error_line(stderr)), stderr[-3000:]
    assert proxy.held >= 1
    timeline = json.loads(next((tmp_path / "out").glob("_logs/*/timeline.json")).read_text())
    assert STALL_S <= timeline["finished_s"] - timeline["engine_ready_s"] <= STALL_S + 5, "stopped once it stalled"

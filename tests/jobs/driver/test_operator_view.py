"""What an operator sees of a run, on real runs of the tiny model (a real local Ray
cluster and vLLM engine): a quiet terminal without one (as under cron, Airflow or make),
the engine's logs kept in the run's log file, the job report rendered in a real browser
(headless Chromium) for a local and an s3:// output, and the stall guard ending a run
whose engine is wedged (a stand-in engine that never answers: wedged_engine.py). One
run serves the first four tests."""

import json
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from examples.news_sample import write_sample
from tests.conftest import job_spec, run_cli, write_job
from tests.s3_server import TEST_KEY, TEST_SECRET

pytestmark = pytest.mark.engine
PLOTTED = ("throughput", "outcomes", "attempts", "tokens", "prefix-cache")
SECTIONS = ("summary", *PLOTTED, "slowest-units", "provenance")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="headless Chromium is not installed (Debian: apt-get install chromium; .ci/run does it)")


@pytest.fixture(scope="module")
def quiet_run(tmp_path_factory, tiny_model):
    """`k2batch run` of a 2-file job with stdout and stderr captured: no terminal."""
    folder = tmp_path_factory.mktemp("quiet")
    write_sample(folder / "news", rows=24, files=2)
    spec = job_spec(input={"uri": str(folder / "news")}, model={"source": str(tiny_model)},
                    output={"uri": str(folder / "out")})
    result = run_cli("run", str(write_job(folder, spec)))
    assert result.returncode == 0, result.stderr[-3000:]
    return result, folder / "out"


def test_a_run_without_a_terminal_prints_a_few_lines_of_its_own(quiet_run):
    result, out = quiet_run
    lines = result.stderr.splitlines()
    assert len(lines) + len(result.stdout.splitlines()) <= 20, result.stderr
    log = next(out.glob("_logs/*/k2batch.log"))
    assert lines[0] == f"k2batch: news-extract run news-extract: 2 unit(s), 24 rows; logs: {log}"
    summary = json.loads((out / "summary.json").read_text())
    assert lines[-1] == (f"news-extract: 24 rows -> {summary['records']} records, {summary['rejects']} rejects in "
                         f"{summary['wall_seconds']:.1f} s; outputs under {out}/; report: {out}/report.html")
    # Every other line is k2batch's own (progress, warnings): none is an engine's or Ray's.
    assert all(line.startswith("k2batch: ") for line in lines[:-1]), result.stderr
    assert result.stdout.splitlines() == [json.dumps(summary, sort_keys=True)], "stdout: only the summary"


def test_the_log_file_holds_the_engines_and_rays_logs(quiet_run):
    _, out = quiet_run
    summary = json.loads((out / "summary.json").read_text())
    text = (out / summary["logs"] / "k2batch.log").read_text()
    assert re.search(r"\(MapWorker\(MapBatches\(K2Engine\)\) pid=\d+\).*Initializing a V1 LLM engine", text), \
        "vLLM's engine log, as Ray forwards it from the engine actor"
    assert "Started a local Ray instance" in text and "committed " in text  # Ray's own and k2batch's
    timeline = json.loads((out / summary["logs"] / "timeline.json").read_text())
    assert timeline["samples"][-1]["rows"] == 24 and len(timeline["units"]) == 2
    assert sorted(u["unit"] for u in timeline["units"]) == [f"{out.parent / 'news' / name} rows 0-12" for name in ("part-0.parquet", "part-1.parquet")]
    assert all(u["first_taken_s"] is not None for u in timeline["units"]), "each unit timed from its first row in an engine"
    assert 0 < timeline["engine_ready_s"] < timeline["finished_s"]


def chromium(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", *args],
                          capture_output=True, text=True, timeout=timeout)


@needs_chromium
def test_the_report_renders_in_a_browser(quiet_run, tmp_path):
    from matplotlib.image import imread

    _, out = quiet_run
    page = out / "report.html"
    assert json.loads((out / "summary.json").read_text())["report"] == "report.html"
    dom = chromium("--dump-dom", page.as_uri()).stdout
    for section in SECTIONS:
        assert re.search(rf'<section id="{section}"><h2>[^<]+</h2>', dom), f"no {section} section"
    for section in PLOTTED:
        assert re.search(rf'<section id="{section}"><h2>[^<]+</h2><svg', dom), f"no plot in {section}"
    assert "not recorded" not in dom, "the time plots and slowest units come from this run's timeline"
    assert not re.search(r'(src|href)="(https?:)?//|<script|<link', dom), "self-contained: nothing fetched"
    shot = tmp_path / "report.png"
    chromium(f"--screenshot={shot}", "--window-size=1200,3000", page.as_uri())
    pixels = imread(shot)[..., :3]
    inked = (pixels.min(axis=-1) < 0.8).mean()  # not white nor near-white
    assert inked > 0.03, f"the page looks blank: {inked:.1%} of it is drawn"
    assert len({tuple(p) for p in pixels.reshape(-1, 3)[::97]}) > 20, "plots in colour, not one flat tone"


def test_the_report_of_an_s3_output(quiet_run, s3_server, bucket):
    _, out = quiet_run
    client = s3_server.client()
    for path in out.rglob("*"):
        if path.is_file() and path.name != "report.html":
            client.upload_file(str(path), bucket, f"out/{path.relative_to(out)}")
    result = run_cli("report", f"s3://{bucket}/out", "--storage-option", f"endpoint_url={s3_server.endpoint_url}",
                     "--storage-option", f"key={TEST_KEY}", "--storage-option", f"secret={TEST_SECRET}", timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == f"k2batch: report written to s3://{bucket}/out/report.html"
    page = client.get_object(Bucket=bucket, Key="out/report.html")["Body"].read().decode()
    assert all(f'<section id="{section}">' in page for section in SECTIONS)
    assert "news-extract: 24 rows" in page and TEST_SECRET not in page


STALL_S = 10
ENGINE_START_BOUND_S = 120  # as in test_fail_fast: Ray and the tiny engine start well within it


def test_a_wedged_engine_ends_the_run_with_exit_4_naming_the_unit(tmp_path, tiny_model):
    write_sample(tmp_path / "news", rows=8, files=1)
    spec = job_spec(input={"uri": str(tmp_path / "news")}, output={"uri": str(tmp_path / "out")},
                    model={"source": str(tiny_model), "stall_timeout_s": STALL_S})
    started = time.monotonic()
    result = run_cli("run", str(write_job(tmp_path, spec)), module="tests.jobs.driver.wedged_engine",
                     timeout=ENGINE_START_BOUND_S + STALL_S + 120)
    elapsed = time.monotonic() - started
    assert result.returncode == 4, result.stderr[-3000:]
    log = next((tmp_path / "out").glob("_logs/*/k2batch.log"))
    unit = tmp_path / "news" / "part-0.parquet"
    assert re.fullmatch(rf"k2batch: error: stalled: unit {unit} rows 0-8: the engine holds 8 of its rows and answered none for "
                        rf"1\d s \(model\.stall_timeout_s is {STALL_S} s\); the run's log: {log}",
                        result.stderr.splitlines()[-1]), result.stderr
    assert elapsed < ENGINE_START_BOUND_S + STALL_S + 30
    assert all(line.startswith("k2batch: ") for line in result.stderr.splitlines()), "quiet until the end"
    timeline = json.loads(log.with_name("timeline.json").read_text())
    assert timeline["stalled"].startswith(f"stalled: unit {unit}")
    assert STALL_S <= timeline["finished_s"] - timeline["engine_ready_s"] <= STALL_S + 5, "stopped once it stalled"
    assert not (tmp_path / "out" / "_manifest").exists()

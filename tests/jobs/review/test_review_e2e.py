"""Label mode with confidence end to end, as a user runs it: `k2batch eval` on a gold set
whose labels are known (one engine run, kept with --workdir), its calibration and
reliability diagram; the records' typed confidence columns and summary.json's quantiles;
then `k2batch review` on that output, its Parquet read with pandas, and its Label Studio
files imported into a real Label Studio server on loopback (one per module) through
label-studio-sdk, the tasks and their scored predictions read back through the API."""

import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from examples.news_sample import write_sample
from operators.record_confidence import NAMED_PROBABILITIES, as_dict
from tests.conftest import ROOT, job_spec, run_cli, write_job

pytestmark = pytest.mark.engine
LABELS = {"politics": "government, councils, elections", "business": "companies, trade, ports",
          "science": "research and universities", "sports": "matches and teams", "culture": "arts, theatres, museums"}
LS_VENV = Path(os.environ.get("K2BATCH_LABEL_STUDIO_VENV", ROOT / ".venv-labelstudio"))
LS_TOKEN = "k2batch-test-token-0123456789"
LS_START_TIMEOUT_S = 600  # a fresh data folder's migrations: about a minute on an idle 2-core machine


@pytest.fixture(scope="module")
def label_studio_process(tmp_path_factory):
    """A Label Studio server on loopback with a temporary data folder, its admin and legacy
    API token from the environment, no update check, telemetry or error reports (no
    network); started at once so that it migrates while the engine runs."""
    assert (LS_VENV / "bin/label-studio").exists(), f"no Label Studio venv at {LS_VENV}: run `make test` (it makes it)"
    folder = tmp_path_factory.mktemp("label-studio")
    port = free_port()
    env = {**os.environ, "LABEL_STUDIO_USERNAME": "k2batch@example.com", "LABEL_STUDIO_PASSWORD": "k2batch-test",
           "LABEL_STUDIO_USER_TOKEN": LS_TOKEN, "LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN": "true",
           "LATEST_VERSION_CHECK": "false", "COLLECT_ANALYTICS": "false", "SENTRY_DSN": "", "FRONTEND_SENTRY_DSN": ""}
    log = open(folder / "server.log", "w")
    process = subprocess.Popen(
        [str(LS_VENV / "bin/label-studio"), "start", "--no-browser", "--internal-host", "127.0.0.1", "--port", str(port),
         "--data-dir", str(folder / "data"), "--enable-legacy-api-token"],
        stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    yield process, f"http://127.0.0.1:{port}", folder / "server.log"
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    log.close()


def free_port() -> int:
    """A port free on 127.0.0.1 now (the server binds it a moment later)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def label_studio(label_studio_process) -> str:
    process, url, log = label_studio_process
    deadline = time.monotonic() + LS_START_TIMEOUT_S
    while time.monotonic() < deadline:
        assert process.poll() is None, f"Label Studio exited:\n{log.read_text()[-3000:]}"
        try:
            with urllib.request.urlopen(f"{url}/api/version", timeout=5) as answer:
                if answer.status == 200:
                    return url
        except OSError:
            time.sleep(2)
    pytest.fail(f"Label Studio did not answer within {LS_START_TIMEOUT_S} s:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory, tiny_model, label_studio_process) -> dict:
    """`k2batch eval` of a label job on a gold set: the first headline's topic of each article."""
    folder = tmp_path_factory.mktemp("review")
    write_sample(folder / "news", rows=24, files=1, seed=7)
    (path,) = (folder / "news").glob("*.parquet")
    table = pq.read_table(path)
    gold = table.select(["doc_id", "body"]).append_column(
        "label", pa.array([h[0]["topic"] for h in table.column("headlines").to_pylist()]))
    pq.write_table(gold, folder / "gold.parquet")
    spec = job_spec(name="news-label", input={"uri": str(folder / "news")},
                    task={"mode": "label", "labels": LABELS, "prompt": "What is this article about?\n\n{body}"},
                    model={"source": str(tiny_model), "max_model_len": 2048, "max_tokens": 64},
                    output={"uri": str(folder / "unused")})
    for key in ("schema", "tool_name", "tool_description"):
        spec["task"].pop(key)
    result = run_cli("eval", str(write_job(folder, spec)), "--gold", str(folder / "gold.parquet"),
                     "--out", str(folder / "eval.json"), "--workdir", str(folder / "work"))
    assert result.returncode == 0, result.stderr[-3000:]
    return {"folder": folder, "output": folder / "work/output", "eval": json.loads((folder / "eval.json").read_text()),
            "stdout": result.stdout, "gold": gold.to_pandas()}


def test_eval_reports_calibration_against_the_known_labels(evaluated):
    report, output = evaluated["eval"], evaluated["output"]
    calibration = report["calibration"]
    assert report["rows"] == report["records"] == calibration["rows"] == 24, "every label row is a record"
    buckets = calibration["buckets"]
    assert sum(b["rows"] for b in buckets) == 24
    ece = sum(b["rows"] / 24 * abs(b["accuracy"] - b["mean_confidence"]) for b in buckets if b["rows"])
    assert calibration["ece"] == pytest.approx(ece) and 0 <= ece <= 1
    assert calibration["accuracy"] == pytest.approx(report["fields"]["label"]["accuracy"])
    assert "calibration: 24 records with a confidence, ECE" in evaluated["stdout"]
    assert (evaluated["folder"] / "eval.reliability.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    records = pd.read_parquet(output / "records")
    schema = pq.read_schema(next((output / "records").glob("*.parquet")))
    assert schema.field("_label_probs").type == NAMED_PROBABILITIES
    assert schema.field("_confidence").type == pa.float64()
    for _, row in records.iterrows():
        probs = as_dict(row["_label_probs"])
        assert list(probs) == list(LABELS) and abs(sum(probs.values()) - 1) <= 1e-3
        assert row["label"] == max(probs, key=probs.get) and row["_confidence"] == probs[row["label"]]

    summary = json.loads((output / "summary.json").read_text())
    confidence = summary["confidence"]
    assert confidence["records"] == 24 and confidence["review_below"] == 0.5
    assert confidence["below_review"] == int((records["_confidence"] < 0.5).sum())
    levels = [confidence["quantiles"][q] for q in ("p05", "p25", "p50", "p75", "p95")]
    assert levels == sorted(levels)
    assert abs(confidence["quantiles"]["p50"] - records["_confidence"].median()) <= 0.05
    page = (output / "report.html").read_text()
    assert 'id="confidence"' in page and f"<td class=n>{confidence['below_review']}</td>" in page


def review(output: Path, out: Path, *args: str) -> pd.DataFrame:
    result = run_cli("review", str(output), "--out", str(out), *args)
    assert result.returncode == 0, result.stderr[-3000:]
    return pd.read_parquet(out / "review.parquet")


def test_review_gives_the_least_confident_records_beside_their_text(evaluated):
    from jobs.review import review_queue

    output, folder = evaluated["output"], evaluated["folder"]
    records = pd.read_parquet(output / "records").sort_values("_confidence", kind="stable")
    queue = review(output, folder / "review-n", "--n", "5")
    assert queue["doc_id"].tolist() == records["doc_id"].head(5).tolist()
    assert queue["_confidence"].is_monotonic_increasing
    bodies = evaluated["gold"].set_index("doc_id")["body"]
    assert queue["body"].tolist() == [bodies[i] for i in queue["doc_id"]]
    assert queue["label"].tolist() == records["label"].head(5).tolist()

    below = review(output, folder / "review-below")  # task.review_below, 0.5
    assert len(below) == json.loads((output / "summary.json").read_text())["confidence"]["below_review"]
    assert (below["_confidence"] < 0.5).all()
    assert review_queue(str(output), n=3).rows["doc_id"].tolist() == queue["doc_id"].head(3).tolist(), "the notebook's"

    tasks = json.loads((folder / "review-n/label-studio-tasks.json").read_text())
    assert [t["data"]["k2batch_id"] for t in tasks] == queue["doc_id"].tolist()
    assert [t["predictions"][0]["score"] for t in tasks] == queue["_confidence"].tolist()


def test_the_review_imports_into_label_studio_with_its_predictions_and_scores(evaluated, label_studio):
    folder = evaluated["folder"]
    queue = review(evaluated["output"], folder / "review-ls", "--n", "6")
    result = subprocess.run(
        [str(LS_VENV / "bin/python"), str(Path(__file__).with_name("label_studio_client.py")), label_studio, LS_TOKEN,
         str(folder / "review-ls/label-studio-config.xml"), str(folder / "review-ls/label-studio-tasks.json")],
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    held = json.loads(result.stdout.strip().splitlines()[-1])
    assert all(f'<Choice value="{label}"/>' in held["label_config"] for label in LABELS)
    by_id = {task["data"]["k2batch_id"]: task for task in held["tasks"]}
    assert sorted(by_id) == sorted(queue["doc_id"])
    for _, row in queue.iterrows():
        task = by_id[row["doc_id"]]
        assert task["data"]["body"] == row["body"]
        (prediction,) = task["predictions"]
        assert prediction["score"] == pytest.approx(row["_confidence"])
        assert prediction["result"][0]["value"]["choices"] == [row["label"]]

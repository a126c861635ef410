"""`k2batch estimate` and `k2batch run --retry-rejects` end to end on the tiny model, on
one job: an estimate from a sample, then the first run (whose small max_tokens cuts some
answers off: rejects `truncated`; and a blank row: `empty_input`) measures what the
estimate projected; then a retry of the `truncated` rejects with a larger max_tokens
whose driver is SIGKILLed after its first unit is replaced, a plain run of the retry's
spec (refused: the retry is unfinished), then the same retry finished from the notebook
API. Every input id stays exactly once, the first run's records stay byte for byte, the
`empty_input` reject is not retried, and later plain runs of either spec reuse every unit.

Four engine starts for the module: the estimate, the first run, the killed retry, the
finished retry."""

import json
import signal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from examples.news_sample import write_sample
from jobs.spec import parse_job
from jobs.storage.committed import committed_files, read_committed
from jobs.storage.output_store import EMPTY_FILE
from tests.conftest import job_spec, run_cli, write_job
from tests.jobs.driver.test_resume import end_session, start_cli, wait_for
from tests.s3_server import committed_ids

pytestmark = pytest.mark.engine

# The tiny model's answers to these rows are 92-138 tokens long (temperature 0): at 100
# a few are cut off, at 120 most of those fit and two are cut off again.
FIRST_MAX_TOKENS, RETRY_MAX_TOKENS = 100, 120
# 8 rows in flight (two engine tasks of 4), so that the estimate's sample of 16 and the
# run's 24 rows both fill the engine: a projection is made at full load.
FIRST_ENGINE = {"batch_size": 4, "max_batches_in_flight": 1}
SAMPLE = 16
DUPLICATED = (4, 5)  # rows of part-0 repeated in part-2
BLANK = "blank-0"  # part-3's one row: an empty body, rejected before the engine (empty_input)
RETRIED = "truncated"  # the reason the retry runs again (--reason)
# The killed retry: one row at a time per task, slow enough to kill partway (batch sizes
# are not part of the fingerprint).
SERIAL_ENGINE = ["--set", "model.batch_size=1", "--set", "model.max_batches_in_flight=1"]


class Output:
    def __init__(self, folder: Path):
        self.root = folder / "out"

    def entries(self) -> list[dict]:
        return [json.loads(p.read_text()) for p in sorted((self.root / "_manifest").glob("*.json"))]

    def summary(self) -> dict:
        return json.loads((self.root / "summary.json").read_text())

    def listed(self, kind: str) -> list[str]:
        return committed_files(str(self.root), kind)

    def table(self, kind: str):
        return read_committed(str(self.root), kind)

    def bytes_of(self, kind: str) -> dict[str, bytes]:
        return {path: Path(path).read_bytes() for path in self.listed(kind)}

    def visible(self) -> set[str]:
        return {str(p) for kind in ("records", "rejects") for p in (self.root / kind).glob("*") if p.name != EMPTY_FILE}


@pytest.fixture(scope="module")
def retried(tmp_path_factory, tiny_model):
    folder = tmp_path_factory.mktemp("retry")
    write_sample(folder / "news", rows=24, files=2)
    # Two rows repeat other rows' text under new ids (whose answers fit in 100 tokens):
    # at temperature 0 they are answered once (operators/dedup.py).
    originals = pq.read_table(folder / "news" / "part-0.parquet").slice(DUPLICATED[0], len(DUPLICATED))
    ids = originals.column("doc_id").to_pylist()
    pq.write_table(originals.set_column(originals.schema.get_field_index("doc_id"), "doc_id",
                                        pa.array([f"dup-{i}" for i in ids])), folder / "news" / "part-2.parquet")
    blank = originals.slice(0, 1).set_column(0, "doc_id", pa.array([BLANK]))
    pq.write_table(blank.set_column(blank.schema.get_field_index("body"), "body", pa.array([""])),
                   folder / "news" / "part-3.parquet")
    input_ids = sorted(i for p in (folder / "news").iterdir() for i in pq.read_table(p, columns=["doc_id"]).column(0).to_pylist())
    spec = job_spec(input={"uri": str(folder / "news")},
                    model={"source": str(tiny_model), "max_tokens": FIRST_MAX_TOKENS, "max_attempts": 1, **FIRST_ENGINE},
                    output={"uri": str(folder / "out"), "unit_rows": 4, "max_reject_rate": 1.0})
    path = write_job(folder, spec)
    out = Output(folder)
    estimated = run_cli("estimate", str(path), "--sample", str(SAMPLE), "--out", str(folder / "estimate.json"))
    assert estimated.returncode == 0, estimated.stderr[-3000:]
    estimate_wrote_output = out.root.exists()
    first = run_cli("run", str(path))
    assert first.returncode == 0, first.stderr[-3000:]
    first_summary = out.summary()
    first_records = out.bytes_of("records")
    truncated_units = {e["key"] for e in out.entries() if e["reasons"].get(RETRIED)}

    larger = f"model.max_tokens={RETRY_MAX_TOKENS}"
    proc = start_cli(folder, "run", str(path), "--retry-rejects", "--reason", RETRIED, "--set", larger, *SERIAL_ENGINE)
    try:
        def replaced() -> list[dict]:  # entries that hold rows of the retry's fingerprint
            return [e for e in out.entries() if any(fp != e["job_fingerprint"] for fp in e.get("fingerprint_rows", {}))]
        at_kill = wait_for(replaced, proc, "the retry replaced a unit")
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        at_kill = replaced()  # only the driver commits: nothing changes after its death
    finally:
        proc.kill()
        end_session(proc.pid)
    after_kill = {"entries": out.entries(), "ids": committed_ids(str(out.root), {})}
    plain_of_retry_spec = run_cli("run", str(path), "--set", larger)  # refused before any engine starts
    after_kill["refused_plain_run_changed_nothing"] = out.entries() == after_kill["entries"]

    import ray

    from jobs.notebook import run

    try:
        result = run(parse_job(path.read_text(), [larger]), progress=False, retry_rejects=True, reasons=[RETRIED])
    finally:
        ray.shutdown()
    return dict(estimate=estimated, estimate_wrote_output=estimate_wrote_output, folder=folder, path=path, out=out, input_ids=input_ids, first=first_summary, first_records=first_records,
                at_kill=at_kill, after_kill=after_kill, truncated_units=truncated_units, result=result, larger=larger,
                plain_of_retry_spec=plain_of_retry_spec)


def test_estimate_projects_the_runs_completion_tokens_and_engine_time(retried):
    estimated, first = retried["estimate"], retried["first"]
    projection = json.loads(estimated.stdout.splitlines()[-1])
    assert projection == json.loads((retried["folder"] / "estimate.json").read_text())
    assert not retried["estimate_wrote_output"], "the estimate wrote under output.uri"
    assert projection["input_rows"] == first["input_rows"] and projection["sample_rows"] == SAMPLE
    assert f"projected from {SAMPLE} of {first['input_rows']} rows" in estimated.stderr and "GPU-hours" in estimated.stderr
    assert len(estimated.stderr.strip().splitlines()) <= 20, "the engine's and Ray's logs belong in the log file"
    assert (retried["folder"] / "estimate.log").stat().st_size > 0
    completion, engine = projection["completion_tokens"], projection["engine_seconds"]
    assert completion["low"] <= completion["value"] <= completion["high"]
    assert abs(completion["value"] / first["completion_tokens"] - 1) <= 0.25
    assert abs(engine["value"] / first["engine_seconds"] - 1) <= 0.5
    assert projection["gpu_hours"] == projection["replica_hours"]  # tensor_parallel_size 1


def test_duplicate_prompts_were_answered_once_with_the_same_records(retried):
    first = retried["first"]
    assert first["deduplicated_rows"] == len(DUPLICATED)
    records = retried["out"].table("records").drop_columns(["_prompt_tokens", "_completion_tokens", "_fingerprint"])
    by_id = {row.pop("doc_id"): row for row in records.to_pylist()}
    duplicates = [i for i in by_id if i.startswith("dup-")]
    assert len(duplicates) == len(DUPLICATED)
    for duplicate in duplicates:
        assert by_id[duplicate] == by_id[duplicate.removeprefix("dup-")]


def test_first_run_has_records_and_truncated_rejects(retried):
    first = retried["first"]
    assert first["records"] >= 12 and first["reject_reasons"]["truncated"] >= 3
    assert set(first["reject_reasons"]) == {"truncated", "empty_input"} and first["reject_reasons"]["empty_input"] == 1
    assert first["retried_rows"] == 0 and first["rows_by_fingerprint"] == {
        first["fingerprints"]["job"]: {"records": first["records"], "rejects": first["rejects"]}}


def test_killed_retry_left_every_unit_as_it_was_before_or_after(retried):
    at_kill, after_kill = retried["at_kill"], retried["after_kill"]
    assert 1 <= len(at_kill) < len(retried["truncated_units"]), "the kill did not land partway through the retry"
    assert {e["key"] for e in at_kill} <= retried["truncated_units"]
    assert after_kill["ids"] == retried["input_ids"], "the output read through the manifest lost or doubled a row"
    for entry in after_kill["entries"]:
        assert entry["records"] + entry["rejects"] == entry["rows"]


def test_finished_retry_recovers_rows_and_keeps_every_row_exactly_once(retried):
    out, first, summary = retried["out"], retried["first"], retried["result"].summary.model_dump()
    assert committed_ids(str(out.root), {}) == retried["input_ids"]
    assert out.visible() == {p for kind in ("records", "rejects") for p in out.listed(kind)}, "unlisted files are visible"
    assert not (out.root / "_staging").exists() or not any((out.root / "_staging").rglob("*.parquet"))
    # The notebook's run went on where the killed one stopped: each first-run `truncated` reject retried once.
    truncated = first["reject_reasons"][RETRIED]
    replaced_rows = sum(e["fingerprint_rows"][fp]["records"] + e["fingerprint_rows"][fp]["rejects"]
                        for e in retried["at_kill"] for fp in e["fingerprint_rows"] if fp != e["job_fingerprint"])
    assert summary["retried_rows"] + replaced_rows == truncated
    second = summary["fingerprints"]["job"]
    old = first["fingerprints"]["job"]
    assert second != old
    by_fp = summary["rows_by_fingerprint"]
    assert by_fp[old] == {"records": first["records"], "rejects": 1}, "the empty_input reject is not retried"
    assert by_fp[second]["records"] + by_fp[second]["rejects"] == truncated
    assert by_fp[second]["records"] >= 1 and summary["records"] == first["records"] + by_fp[second]["records"]
    assert summary["records"] + summary["rejects"] == summary["input_rows"] == len(retried["input_ids"])
    # Rows that failed again carry their new reason and the retry's fingerprint; --reason
    # left the blank row's reject as the first run wrote it.
    rejects = {row.pop("doc_id"): row for row in out.table("rejects").to_pylist()}
    assert (rejects.pop(BLANK)["_fingerprint"], summary["reject_reasons"]["empty_input"]) == (old, 1)
    assert {(r["_fingerprint"], r["reason"]) for r in rejects.values()} == {(second, "truncated")}
    assert all(f"max_tokens ({RETRY_MAX_TOKENS})" in r["error"] for r in rejects.values())
    records = out.table("records")
    assert sorted(set(records.column("_fingerprint").to_pylist())) == sorted({old, second})


def test_a_plain_run_of_the_retrys_spec_is_refused_until_the_retry_has_finished(retried):
    """After the killed retry, units with rejects still to retry hold only the first
    spec's results: a plain run of the retry's spec would mix, and is refused."""
    result = retried["plain_of_retry_spec"]
    assert result.returncode == 2, result.stderr[-3000:]
    (line,) = result.stderr.strip().splitlines()
    assert "holds results of another job fingerprint" in line and line.endswith("k2batch run --retry-rejects")
    assert retried["after_kill"]["refused_plain_run_changed_nothing"]


def test_first_run_records_are_untouched_byte_for_byte(retried):
    out = retried["out"]
    now = out.bytes_of("records")
    assert retried["first_records"], "the first run committed no records file: nothing to compare"
    for path, data in retried["first_records"].items():
        assert now.get(path) == data, f"{path} was rewritten or dropped"


def test_later_plain_runs_of_either_spec_reuse_every_unit_and_retry_filters_by_reason(retried):
    out, path = retried["out"], retried["path"]
    units = len(out.entries())
    for extra in ([], ["--set", retried["larger"]]):
        plain = run_cli("run", str(path), *extra)
        assert plain.returncode == 0, plain.stderr[-3000:]
        summary = json.loads(plain.stdout.splitlines()[-1])
        assert summary["reused_units"] == units and summary["records"] == retried["result"].summary.records
        assert summary["engines"] == [], "a plain run of a retried output started an engine"
    # --reason filters: no reject has this reason, so nothing runs.
    other = run_cli("run", str(path), "--retry-rejects", "--reason", "schema_invalid", "--set", "model.max_tokens=130")
    assert other.returncode == 0, other.stderr[-3000:]
    assert json.loads(other.stdout.splitlines()[-1])["retried_rows"] == 0 and json.loads(other.stdout.splitlines()[-1])["engines"] == []


def test_retry_refuses_an_input_changed_since_the_first_run(retried):
    out, path = retried["out"], retried["path"]
    before = {p: Path(p).read_bytes() for p in out.visible()}
    part = retried["folder"] / "news" / "part-2.parquet"
    table = pq.read_table(part)
    pq.write_table(table.slice(0, table.num_rows - 1), part)
    result = run_cli("run", str(path), "--retry-rejects", "--set", retried["larger"])
    assert result.returncode == 2, result.stderr[-3000:]
    assert "changed or is gone since its rejects were written" in result.stderr
    assert {p: Path(p).read_bytes() for p in out.visible()} == before

"""What a resumed run reuses: committed ranges of unchanged files, whatever unit size
wrote them (including whole-file units of earlier k2batch versions); the rest is planned
again, and overlapping commits are refused, never mixed."""

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from jobs.driver.manifest_upgrade import upgrade_entry
from jobs.driver.resume import plan_resume
from jobs.plan.input_files import InputFile
from jobs.plan.input_units import make_unit, plan_units, whole_file_key
from jobs.storage.committed_unit import CommittedUnit
from jobs.storage.output_store import OutputConflictError
from tests.conftest import job_spec, run_cli, write_job

A = InputFile(path="in/a.parquet", size=10, version="v1", row_groups=(100,), schema=None)
B = InputFile(path="in/b.parquet", size=20, version="v1", row_groups=(60, 60), schema=None)


def entry(key: str, file: InputFile, start: int | None, rows: int, fingerprint: str = "fp") -> CommittedUnit:
    """A version 2 entry; with `start` None, a version 1 whole-file entry, upgraded."""
    if start is None:
        old = CommittedUnit(key=key, input_path=file.path, job_fingerprint=fingerprint, rows=rows, records=rows, version=1)
        return upgrade_entry(old, A if file.path == A.path else B, labels=None)
    return CommittedUnit(key=key, input_path=file.path, job_fingerprint=fingerprint, rows=rows, records=rows, start=start,
                         input_size=file.size, input_version=file.version, fingerprints=[fingerprint])


def committed_unit(unit) -> CommittedUnit:
    return entry(unit.key, unit.file, unit.start, unit.rows)


def plan(committed: list[CommittedUnit], unit_rows: int = 40, files=(A, B)):
    files = list(files)
    return plan_resume(files, plan_units(files, unit_rows, "fp"), {c.key: c for c in committed}, "fp", "out/")


def ranges(units) -> list[tuple[str, int, int]]:
    return [(u.path, u.start, u.rows) for u in units]


def test_committed_units_of_unchanged_files_are_reused_and_the_rest_planned():
    units = plan_units([A, B], 40, "fp")
    assert ranges(units) == [("in/a.parquet", 0, 34), ("in/a.parquet", 34, 33), ("in/a.parquet", 67, 33),
                             ("in/b.parquet", 0, 30), ("in/b.parquet", 30, 30), ("in/b.parquet", 60, 30),
                             ("in/b.parquet", 90, 30)]
    resumed = plan([committed_unit(units[1]), committed_unit(units[4])])
    assert set(resumed.reused) == {units[1].key, units[4].key}
    assert resumed.pending == [u for n, u in enumerate(units) if n not in (1, 4)]
    assert resumed.units == len(units)


def test_a_unit_of_a_changed_file_is_not_reused():
    units = plan_units([A, B], 40, "fp")
    changed = InputFile(path=A.path, size=11, version="v2", row_groups=A.row_groups, schema=None)
    resumed = plan([committed_unit(units[0])], files=(changed, B))
    assert resumed.reused == {}  # the store retires it
    assert ranges(resumed.pending)[:3] == [("in/a.parquet", 0, 34), ("in/a.parquet", 34, 33), ("in/a.parquet", 67, 33)]


def test_an_output_written_with_another_unit_size_resumes_by_rows():
    earlier = plan_units([A, B], 25, "fp")  # a:(0,25),(25,25),(50,25),(75,25)
    resumed = plan([committed_unit(earlier[0]), committed_unit(earlier[1]), committed_unit(earlier[3])], unit_rows=40)
    assert len(resumed.reused) == 3
    assert [(p, s, r) for p, s, r in ranges(resumed.pending) if p == A.path] == [("in/a.parquet", 50, 17),
                                                                                 ("in/a.parquet", 67, 8)]


def test_whole_file_units_of_earlier_versions_resume():
    legacy = entry(whole_file_key("fp", A), A, None, 100)
    stale = entry(whole_file_key("fp", InputFile(path=B.path, size=5, version="v0", row_groups=(), schema=None)), B, None, 10)
    resumed = plan([legacy, stale])
    assert set(resumed.reused) == {legacy.key}
    assert {u.path for u in resumed.pending} == {B.path}


def test_overlapping_commits_are_refused_with_the_reason():
    early, late = make_unit("fp", A, 0, 50), make_unit("fp", A, 40, 30)  # two runs with different unit_rows at once
    with pytest.raises(OutputConflictError, match=r"committed units of in/a.parquet overlap \(rows 0-50 and 40-70\).*"
                                                  r"output.mode: overwrite"):
        plan([committed_unit(early), committed_unit(late)])
    legacy = entry(whole_file_key("fp", A), A, None, 100)
    with pytest.raises(OutputConflictError, match="overlap"):
        plan([legacy, committed_unit(late)])


def test_an_output_of_whole_file_units_resumes_through_k2batch_run(tmp_path, news_data, tiny_model):
    """An output as k2batch wrote it when a unit was a file: `k2batch run` reuses it all,
    without starting Ray, and says what it did."""
    from jobs.plan.resolve import resolve_job
    from jobs.spec import JobSpec

    output = tmp_path / "out"
    spec = job_spec(input={"uri": str(news_data)}, model={"source": str(tiny_model)}, output={"uri": str(output)})
    resolved = resolve_job(JobSpec.model_validate(spec))
    for file in resolved.files:
        key = whole_file_key(resolved.fingerprints["job"], file)
        ids = pq.read_table(file.path, columns=["doc_id"]).column(0)
        (output / "rejects").mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.table({"doc_id": ids, "reason": ["engine_error"] * len(ids)}), output / f"rejects/part-{key}-0.parquet")
        (output / "_manifest").mkdir(exist_ok=True)
        (output / f"_manifest/{key}.json").write_text(json.dumps({
            "key": key, "input_path": file.path, "job_fingerprint": resolved.fingerprints["job"], "rows": file.rows,
            "records": 0, "rejects": file.rows, "prompt_tokens": 0, "completion_tokens": 0, "reasons": {"engine_error": file.rows},
            "files": {"rejects": [f"rejects/part-{key}-0.parquet"]}}))
    result = run_cli("run", str(write_job(tmp_path, spec)), "--set", "output.max_reject_rate=1", timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout.splitlines()[-1])
    assert (summary["units"], summary["reused_units"], summary["reused_rows"], summary["rejects"]) == (3, 3, 24, 24)
    log = (output / summary["logs"] / "k2batch.log").read_text()  # a quiet run's log, not the terminal
    assert "reusing 3 whole-file unit(s) written before units were row ranges" in log
    assert "vLLM" not in log and summary["engines"] == [], "an engine started for nothing"

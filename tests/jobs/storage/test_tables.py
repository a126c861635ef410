"""Table output without an engine (output.table, jobs/storage/tables/): units committed
to real Iceberg tables (a SQL catalog on SQLite, warehouse on local disk or the S3
server) and Delta tables (local disk or the S3 server), read back with pyiceberg,
deltalake and Polars; a crash at each point of a unit's commit, then the next run's
reconciliation: every row exactly once, nothing committed twice."""

import json
import uuid

import polars as pl
import pyarrow as pa
import pytest

from jobs.storage.committed import read_committed, read_records
from jobs.storage.output_store import OutputConflictError
from jobs.storage.redact import redact
from jobs.storage.tables import TAG_ENTRY, TAG_FINGERPRINT, TAG_TRUNCATE, TAG_UNIT
from jobs.storage.tables.reconcile import reconcile
from tests.jobs.storage.table_units import FINGERPRINT, MotoS3Process, Tables, record
from tests.s3_server import TEST_KEY, TEST_SECRET

UNITS = {"u1": (["a1", "a2"], ["a3"]), "u2": (["b1"], ["b2", "b3"]), "u3": ([], ["c1"])}


@pytest.fixture(scope="module")
def s3_process():
    server = MotoS3Process()
    yield server
    server.stop()


@pytest.fixture(params=[("iceberg", "local"), ("iceberg", "s3"), ("delta", "local"), ("delta", "s3")],
                ids=lambda p: f"{p[0]}-{p[1]}")
def tables(request, tmp_path) -> Tables:
    return make_tables(request, tmp_path, *request.param)


def make_tables(request, tmp_path, fmt: str, where: str) -> Tables:
    if where == "local":
        return Tables(fmt, str(tmp_path / "out"))
    server = request.getfixturevalue("s3_process")
    bucket = server.make_bucket(f"k2b-{uuid.uuid4().hex[:12]}")
    options = {"endpoint_url": server.endpoint_url, "key": TEST_KEY, "secret": TEST_SECRET,
               "_catalog_db": str(tmp_path / "catalog.db")}
    return Tables(fmt, f"s3://{bucket}/out", options)


def commit_units(tables: Tables, output, units=UNITS) -> None:
    for key, (records, rejects) in units.items():
        output.commit(*tables.unit(key, records, rejects))


def ids(tables: Tables, kind: str) -> list[str]:
    table = read_committed(tables.root, kind, tables.options)
    return sorted(table.column("doc_id").to_pylist())


def all_ids(tables: Tables) -> list[str]:
    return sorted(ids(tables, "records") + ids(tables, "rejects"))


def tagged(output, kind: str) -> list[dict]:
    return [tags for tags in output.tables[kind].history(since=TAG_TRUNCATE) if TAG_UNIT in tags]


def polars_frame(tables: Tables, output, kind: str) -> pl.DataFrame:
    """The table as Polars reads it, through the format's own reader."""
    table = output.tables[kind]
    if tables.fmt == "delta":
        return pl.read_delta(table.uri, storage_options=table.options)
    return pl.scan_iceberg(table._load(), reader_override="pyiceberg").collect()


def test_each_unit_is_one_tagged_commit_per_table_and_the_tables_read_back_as_read_records(tables):
    output = tables.open()
    commit_units(tables, output)

    for kind, units in (("records", ["u1", "u2"]), ("rejects", ["u1", "u2", "u3"])):
        commits = tagged(output, kind)
        assert [c[TAG_UNIT] for c in commits] == units, f"one {kind} commit per unit that has {kind}"
        assert {c[TAG_FINGERPRINT] for c in commits} == {FINGERPRINT}
        assert [json.loads(c[TAG_ENTRY])["table_commit"] for c in commits] == [1] * len(units)
    assert all_ids(tables) == ["a1", "a2", "a3", "b1", "b2", "b3", "c1"]
    assert read_records(tables.root, tables.options) == {i: record(i) for i in ("a1", "a2", "b1")}

    for kind in ("records", "rejects"):
        ours = read_committed(tables.root, kind, tables.options).sort_by("doc_id")
        theirs = polars_frame(tables, output, kind).sort("doc_id")
        assert theirs.to_dicts() == pl.from_arrow(ours).to_dicts()
    properties = output.tables["records"].properties()
    assert json.loads(properties["k2batch.json_columns"]) == ["extra"]
    assert properties["k2batch.job_fingerprint"] == FINGERPRINT and "k2batch.schema" in properties
    schema = output.tables["records"].schema()
    assert str(schema.field("topic").type) in ("string", "large_string"), "an enum is a plain string column"
    assert str(schema.field("extra").type) in ("string", "large_string"), "a JSON column is a string column"
    # The unit's files are the tables' data files: moved out of staging, not copied.
    listed = [p for unit in tables.store.committed().values() for paths in unit.files.values() for p in paths]
    assert len(listed) == 5 and all(p.startswith(output.tables["records"].data_uri + "/") or
                                    p.startswith(output.tables["rejects"].data_uri + "/") for p in listed)
    assert not [p for p in tables.store.fs.find(tables.store.path("_staging")) if p.endswith(".parquet")]


class Crash(Exception):
    """Stands in for the driver dying at one point of a unit's commit."""


def crash(monkeypatch, target, name: str) -> None:
    def die(*args, **kwargs):
        raise Crash(name)

    monkeypatch.setattr(target, name, die)


CRASH_POINTS = {
    # the unit's files moved into the tables' folders, no table commit yet: the unit is run again
    "before the table commits": lambda output, tables: ("apply", output, False),
    # the records table committed, the rejects table not: the rejects' commit is made by the re-run
    "between the two tables' commits": lambda output, tables: ("commit", output.tables["rejects"], True),
    # both tables committed, the manifest entry not written
    "between the table commits and the manifest entry": lambda output, tables: ("write_entry", tables.store, True),
}


@pytest.mark.parametrize("point", CRASH_POINTS)
@pytest.mark.parametrize("fmt", ["iceberg", "delta"])
def test_a_crash_at_any_point_of_a_commit_then_a_rerun_leaves_every_row_once(tmp_path, monkeypatch, fmt, point):
    tables = Tables(fmt, str(tmp_path / "out"))
    output = tables.open()
    commit_units(tables, output, {"u1": UNITS["u1"]})
    name, target, reached = CRASH_POINTS[point](output, tables)
    with monkeypatch.context() as patch:
        crash(patch, target, name)
        with pytest.raises(Crash):
            output.commit(*tables.unit("u2", ["b1"], ["b2", "b3"]))
    assert set(tables.store.committed()) == {"u1"}

    again = tables.open()
    committed = reconcile(again, tables.store.committed(), overwrite=False, job_fingerprint=FINGERPRINT)
    assert set(committed) == ({"u1", "u2"} if reached else {"u1"})
    assert set(tables.store.committed()) == set(committed), "the rolled-forward entry is written"
    expected = ["a1", "a2", "a3", "b1", "b2", "b3"] if reached else ["a1", "a2", "a3"]
    assert all_ids(tables) == expected
    folders = [tables.store.file_path(t.data_uri) for t in again.tables.values()]
    on_disk = {p for folder in folders for p in tables.store.fs.glob(f"{folder}/k2batch-*.parquet")}
    assert on_disk == {tables.store.file_path(p) for u in committed.values() for ps in u.files.values() for p in ps}, \
        "files of a unit that never committed are deleted; committed ones stay"
    if not reached:  # the unit runs again and commits once
        again.commit(*tables.unit("u2", ["b1"], ["b2", "b3"]))
        assert all_ids(tables) == ["a1", "a2", "a3", "b1", "b2", "b3"]
    counts = {kind: len(tagged(again, kind)) for kind in ("records", "rejects")}
    reconcile(tables.open(), tables.store.committed(), overwrite=False, job_fingerprint=FINGERPRINT)
    assert {kind: len(tagged(again, kind)) for kind in ("records", "rejects")} == counts == {"records": 2, "rejects": 2}
    assert all_ids(tables) == ["a1", "a2", "a3", "b1", "b2", "b3"]


@pytest.mark.parametrize("fmt", ["iceberg", "delta"])
def test_a_retry_killed_between_the_tables_commits_is_finished_by_the_rerun(tmp_path, monkeypatch, fmt):
    """--retry-rejects's replace (jobs/driver/retry_rejects.py): b2 recovered into the
    records table, b3 rejected again; the old rejects file leaves the rejects table."""
    tables = Tables(fmt, str(tmp_path / "out"))
    output = tables.open()
    commit_units(tables, output, {"u2": UNITS["u2"]})
    old = tables.store.committed()["u2"]
    new_records, new_rejects = tables.stage("records", ["b2"]), tables.stage("rejects", ["b3"])
    entry = type(old).from_json(old.to_json())
    entry.records, entry.rejects = 2, 1
    entry.files = {"records": list(old.files["records"]), "rejects": []}
    with monkeypatch.context() as patch:
        crash(patch, output.tables["rejects"], "commit")
        with pytest.raises(Crash):
            output.replace(entry, {"records": [new_records], "rejects": [new_rejects]}, list(old.files["rejects"]))
    assert sorted(ids(tables, "records")) == ["b1", "b2"] and ids(tables, "rejects") == ["b2", "b3"], "b2 is in both"

    again = tables.open()
    committed = reconcile(again, tables.store.committed(), overwrite=False, job_fingerprint=FINGERPRINT)
    assert committed["u2"].table_commit == 2 and committed["u2"].records == 2
    assert ids(tables, "records") == ["b1", "b2"] and ids(tables, "rejects") == ["b3"]


@pytest.mark.parametrize("fmt", ["iceberg", "delta"])
def test_an_incompatible_table_is_refused_naming_the_column(tmp_path, fmt):
    tables = Tables(fmt, str(tmp_path / "out"))
    tables.open()
    changed = Tables(fmt, str(tmp_path / "out"))
    records = changed.schemas["records"]
    at = records.get_field_index("headlines")
    changed.schemas["records"] = records.set(at, records.field(at).with_type(
        pa.list_(pa.struct([pa.field("title", pa.int64(), nullable=False)]))))
    with pytest.raises(OutputConflictError, match=r"output\.table\.records: .* column headlines\.element\.title is "
                                                  r"(large_)?string, and the job writes int64"):
        changed.open()


@pytest.mark.parametrize("fmt", ["iceberg", "delta"])
def test_overwrite_empties_each_table_in_one_commit_and_forgets_its_history(tmp_path, fmt):
    tables = Tables(fmt, str(tmp_path / "out"))
    output = tables.open()
    commit_units(tables, output)
    before = {kind: len(output.tables[kind].history(since="no-such-tag")) for kind in ("records", "rejects")}

    again = tables.open(mode="overwrite")
    assert reconcile(again, {}, overwrite=True, job_fingerprint="fp-new") == {}
    assert all_ids(tables) == []
    after = {kind: len(again.tables[kind].history(since="no-such-tag")) for kind in ("records", "rejects")}
    assert after == {kind: n + 1 for kind, n in before.items()}, "one commit per table"
    assert tagged(again, "records") == [], "units before the overwrite are never rolled forward"


def test_retired_units_leave_the_tables_and_are_never_brought_back(tmp_path):
    tables = Tables("delta", str(tmp_path / "out"))
    output = tables.open()
    commit_units(tables, output)
    committed = tables.store.committed()
    output.retire([committed["u2"]])
    tables.store.settle(committed, {k: v for k, v in committed.items() if k != "u2"})
    assert all_ids(tables) == ["a1", "a2", "a3", "c1"]
    assert set(reconcile(tables.open(), tables.store.committed(), overwrite=False, job_fingerprint=FINGERPRINT)) == {"u1", "u3"}


def test_the_table_spec_left_for_readers_holds_no_secret(tmp_path):
    tables = Tables("iceberg", str(tmp_path / "out"))
    secret = "catalog-secret-DO-NOT-LEAK-42"
    tables.spec = tables.spec.model_copy(update={"catalog": {
        "type": "sql", "uri": f"sqlite:///{tmp_path}/c.db", "warehouse": f"file://{tmp_path}/wh", "s3.secret-access-key": secret}})
    tables.open()
    left = (tmp_path / "out" / "_table.json").read_text()
    assert secret not in left and f"{tmp_path}/c.db" in left
    assert redact(f"failed with {secret}") == "failed with ***"


@pytest.mark.parametrize("table, output_uri, error", [
    ({"format": "iceberg", "records": "news", "rejects": "k2.rejects"}, "out", "iceberg tables are named namespace.table"),
    ({"format": "delta", "records": "t/a", "rejects": "t/b", "catalog": "prod"}, "out", "only for format iceberg"),
    ({"format": "iceberg", "records": "k2.a", "rejects": "k2.a"}, "out", "another table than output.table.records"),
    ({"format": "iceberg", "records": "k2.a", "rejects": "k2.b"}, "s3://bucket/out", "the embedded SQLite catalog needs a local output.uri"),
])
def test_the_table_spec_names_what_to_fix(table, output_uri, error):
    from pydantic import ValidationError

    from jobs.spec.models import OutputSpec

    with pytest.raises(ValidationError, match=error):
        OutputSpec(uri=output_uri, table=table)


def test_folder_results_and_table_results_never_mix(tmp_path):
    from jobs.storage.tables import check_output_kind

    tables = Tables("delta", str(tmp_path / "out"))
    output = tables.open()
    folder_unit, _ = tables.unit("u9", ["z"], [])
    folder_unit.files = {"records": ["records/part-u9-0.parquet"]}
    with pytest.raises(OutputConflictError, match="holds results written to folders and this job writes tables"):
        check_output_kind({"u9": folder_unit}, output, tables.root)
    commit_units(tables, output, {"u1": UNITS["u1"]})
    with pytest.raises(OutputConflictError, match="holds results written to tables and this job writes folders"):
        check_output_kind(tables.store.committed(), None, tables.root)


def test_eval_writes_tables_of_its_own_work_folder(tmp_path):
    from jobs.devtools.eval_job import _eval_table
    from jobs.spec.models import TableSpec

    iceberg = TableSpec(format="iceberg", records="prod.news", rejects="prod.rejects", catalog="production")
    assert _eval_table(iceberg, str(tmp_path)).catalog is None, "the embedded catalog under the eval's output"
    delta = TableSpec(format="delta", records="s3://prod/news", rejects="s3://prod/rejects", storage_options={"AWS_REGION": "x"})
    moved = _eval_table(delta, str(tmp_path))
    assert (moved.records, moved.rejects, moved.storage_options) == (
        str(tmp_path / "tables/records"), str(tmp_path / "tables/rejects"), {})

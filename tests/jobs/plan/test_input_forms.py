"""Every form `input.uri` takes (a file, a folder, a glob; a plain path, relative to the
directory k2batch runs from, or a `file://` URI) lists exactly the files it names, and
`input_rows` is their real row count: the conservation check counts the same listing,
so a listing that loses files would pass it. A whole run over a `file://` glob:
tests/jobs/test_spec_switches.py."""

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from examples.news_sample import write_sample
from jobs.plan.resolve import resolve_job
from jobs.spec import JobSpec
from tests.conftest import job_spec


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    """part-0..2.parquet, other.parquet beside them, nested/part-5.parquet below them."""
    folder = tmp_path_factory.mktemp("forms") / "news"
    write_sample(folder, rows=20, files=3)
    (folder / "nested").mkdir()
    for path, rows in ((folder / "other.parquet", 3), (folder / "nested" / "part-5.parquet", 2)):
        pq.write_table(pa.table({"doc_id": [f"{path.stem}-{i}" for i in range(rows)], "body": ["An article."] * rows}), path)
    return folder


def rows_of(paths) -> int:
    return sum(pq.read_metadata(path).num_rows for path in paths)


FORMS = {
    "file": ("{data}/part-1.parquet", lambda data: [data / "part-1.parquet"]),
    "folder": ("{data}", lambda data: [*data.glob("*.parquet"), *data.glob("nested/*.parquet")]),
    "glob": ("{data}/part-*.parquet", lambda data: list(data.glob("part-*.parquet"))),
    "file-uri-file": ("file://{data}/part-2.parquet", lambda data: [data / "part-2.parquet"]),
    "file-uri-folder": ("file://{data}/", lambda data: [*data.glob("*.parquet"), *data.glob("nested/*.parquet")]),
    "file-uri-glob": ("file://{data}/*.parquet", lambda data: list(data.glob("*.parquet"))),
    "relative-glob": ("news/part-*.parquet", lambda data: list(data.glob("part-*.parquet"))),  # run from data's parent
}


@pytest.mark.parametrize("form", list(FORMS))
def test_each_form_lists_exactly_its_files_and_counts_their_rows(form, data, tiny_model, tmp_path, monkeypatch):
    monkeypatch.chdir(data.parent)
    uri, expected = FORMS[form]
    files = sorted(str(path) for path in expected(data))
    spec = JobSpec.model_validate(job_spec(input={"uri": uri.format(data=data)}, model={"source": str(tiny_model)},
                                           output={"uri": str(tmp_path / "out")}))
    resolved = resolve_job(spec)
    assert sorted(resolved.input_files) == files
    assert resolved.input_rows == rows_of(files) and sum(unit.rows for unit in resolved.units) == resolved.input_rows

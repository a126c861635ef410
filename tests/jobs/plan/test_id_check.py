"""The id check: exact (every duplicate found, wherever its copies are), in buckets on
disk past `bucket_ids` ids, and safe against a read that fails midway and is retried."""

import errno

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fsspec.implementations.local import LocalFileSystem

from jobs.plan.id_check import check_ids
from jobs.plan.input_files import InputError, list_parquet_files, read_input_files


def write_ids(folder, chunks: list[list]) -> list:
    folder.mkdir(exist_ok=True)
    for n, ids in enumerate(chunks):
        pq.write_table(pa.table({"doc_id": pa.array(ids, pa.string())}), folder / f"part-{n}.parquet", row_group_size=50)
    fs = LocalFileSystem()
    return read_input_files(fs, list_parquet_files(fs, str(folder), str(folder)))


@pytest.mark.parametrize("bucket_ids", [10**6, 37])  # one bucket in memory; many on disk
def test_duplicates_across_files_are_found_and_named(tmp_path, bucket_ids):
    files = write_ids(tmp_path / "in", [[f"a{i}" for i in range(300)], [f"b{i}" for i in range(300)] + ["a7", "a299"],
                                         ["b5", "c1", "c1"]])
    with pytest.raises(InputError, match=r"input.id_column: 4 duplicate doc_id value\(s\), e.g. ") as raised:
        check_ids(LocalFileSystem(), files, "doc_id", bucket_ids=bucket_ids)
    assert set(str(raised.value).split("e.g. ")[1].split(", ")) == {"a7", "a299", "b5", "c1"}


@pytest.mark.parametrize("bucket_ids", [10**6, 37])
def test_unique_ids_pass_and_nulls_are_counted(tmp_path, bucket_ids):
    files = write_ids(tmp_path / "ok", [[f"a{i}" for i in range(400)], [f"b{i}" for i in range(10)]])
    check_ids(LocalFileSystem(), files, "doc_id", bucket_ids=bucket_ids, threads=4)
    files = write_ids(tmp_path / "nulls", [["a", None, "b"], [None]])
    with pytest.raises(InputError, match=r"input.id_column: 2 row\(s\) have a null doc_id"):
        check_ids(LocalFileSystem(), files, "doc_id", bucket_ids=bucket_ids)


class FailsOnceMidway(LocalFileSystem):
    """The first open of each file breaks with a dropped connection after its first reads."""

    def __init__(self, fail_after_reads: int):
        super().__init__()
        self.broken = set()
        self.fail_after_reads = fail_after_reads

    def open(self, path, mode="rb", **kwargs):
        f = super().open(path, mode, **kwargs)
        if path in self.broken:
            return f
        self.broken.add(path)
        reads = {"n": 0}
        read = f.read

        def failing_read(*args):
            reads["n"] += 1
            if reads["n"] > self.fail_after_reads:
                raise ConnectionResetError(errno.ECONNRESET, "connection reset by peer")
            return read(*args)

        f.read = failing_read
        return f


def test_a_read_retried_midway_adds_no_false_duplicate(tmp_path, monkeypatch):
    from jobs.plan import id_check

    folder = tmp_path / "big"
    folder.mkdir()
    for n in range(2):  # several read batches per file, so that a read can fail after some are spread
        pq.write_table(pa.table({"doc_id": [f"{n}-{i}" for i in range(200_000)]}), folder / f"part-{n}.parquet",
                       row_group_size=20_000)
    written = []
    write = id_check._Buckets._write
    monkeypatch.setattr(id_check._Buckets, "_write", lambda self, split, tag: (written.append(tag), write(self, split, tag)))
    fs = FailsOnceMidway(fail_after_reads=8)
    files = read_input_files(LocalFileSystem(), list_parquet_files(LocalFileSystem(), str(folder), str(folder)))
    check_ids(fs, files, "doc_id", bucket_ids=50_000)
    assert len(fs.broken) == 2
    assert set(written) == {0, 1, 2, 3}, "each file's first read failed after spreading some ids, then was read again"

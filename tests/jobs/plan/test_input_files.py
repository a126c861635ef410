"""Planning the input's files on a real S3 server: one listing gives identities, footers
are read concurrently with the storage retries, and the result is what one-at-a-time
reads give."""

import io

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from jobs.plan.input_files import InputError, file_version, list_parquet_files, read_input_files
from jobs.storage.filesystem import filesystem_for
from tests.s3_server import Faults


def upload_files(s3_server, bucket: str, count: int) -> str:
    client = s3_server.client()
    for n in range(count):
        table = pa.table({"doc_id": [f"{n}-{i}" for i in range(n + 1)], "body": ["x" * n] * (n + 1)})
        buffer = io.BytesIO()
        pq.write_table(table, buffer, row_group_size=max(1, n // 3 + 1))
        client.put_object(Bucket=bucket, Key=f"in/part-{n:03d}.parquet", Body=buffer.getvalue())
    client.put_object(Bucket=bucket, Key="in/_SUCCESS", Body=b"")  # skipped, as Spark's markers are
    return f"s3://{bucket}/in/"


def test_concurrent_footers_on_s3_match_one_at_a_time(s3_server, bucket, s3_options):
    uri = upload_files(s3_server, bucket, 40)
    fs, path = filesystem_for(uri, s3_options)
    listing = list_parquet_files(fs, path, uri)
    assert len(listing) == 40
    concurrent = read_input_files(fs, listing, threads=8)
    serial = read_input_files(fs, listing, threads=1)
    assert concurrent == serial
    assert [f.rows for f in concurrent] == list(range(1, 41))
    assert concurrent[9].row_groups == (4, 4, 2) and concurrent[9].schema.names == ["doc_id", "body"]
    # The listing's ETag is the one a HEAD gives: keys of earlier outputs (made with HEADs) still match.
    assert all(f.version == file_version(fs.info(f.path)) and f.version for f in concurrent[:3])


def test_footers_are_read_through_a_store_that_fails_requests(s3_server, bucket, s3_options, faulty_proxy):
    uri = upload_files(s3_server, bucket, 30)
    proxy = faulty_proxy(Faults(fraction=0.3, seed=11))
    fs, path = filesystem_for(uri, {**s3_options, "endpoint_url": proxy.endpoint_url})
    files = read_input_files(fs, list_parquet_files(fs, path, uri), threads=8)
    assert [f.rows for f in files] == list(range(1, 31))
    assert proxy.faults.failed > 0, "the proxy failed no request: the test tested nothing"


def test_a_wide_footer_and_a_file_that_is_not_parquet(tmp_path):
    columns = {f"column_with_a_long_name_{n:04d}": [n] for n in range(1500)}  # a footer well over 64 KiB
    pq.write_table(pa.table({"doc_id": ["a"], **columns}), tmp_path / "wide.parquet")
    fs, path = filesystem_for(str(tmp_path), {})
    (wide,) = read_input_files(fs, list_parquet_files(fs, path, str(tmp_path)))
    assert wide.rows == 1 and len(wide.schema) == 1501
    (tmp_path / "notes.parquet").write_bytes(b"not a parquet file at all")
    with pytest.raises(InputError, match=r"input.uri: .*notes.parquet is not a Parquet file \(no PAR1 at its end\)"):
        read_input_files(fs, list_parquet_files(fs, path, str(tmp_path)))

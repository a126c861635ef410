"""The input as units of work: one unit per Parquet file, with the identity that
decides whether an earlier run's output for it can be reused."""

import hashlib
from dataclasses import dataclass, field

import fsspec
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from jobs.storage.filesystem import filesystem_for
from jobs.storage.retry import S3_PROTOCOLS, retrying


class InputError(ValueError):
    """The input cannot be read as the spec describes it."""


@dataclass(frozen=True)
class Unit:
    path: str  # as the filesystem names it (no protocol), the same string Ray Data reports
    size: int
    version: str  # ETag on object stores, mtime on file systems
    rows: int
    schema: pa.Schema = field(compare=False, repr=False)  # read from the same footer as `rows`

    def key(self, job_fingerprint: str) -> str:
        identity = f"{job_fingerprint}\0{self.path}\0{self.size}\0{self.version}"
        return hashlib.sha256(identity.encode()).hexdigest()[:20]


def _where(fs: fsspec.AbstractFileSystem, path: str) -> str:
    return fs.unstrip_protocol(path)


def list_parquet_files(fs: fsspec.AbstractFileSystem, path: str, uri: str) -> list[str]:
    """A file, every `.parquet` under a folder (skipping `_`/`.` entries), or a glob's matches."""
    return retrying(lambda: _list_parquet_files(fs, path, uri), field="input.uri", where=uri, what="listing the input")


def _list_parquet_files(fs: fsspec.AbstractFileSystem, path: str, uri: str) -> list[str]:
    fs.invalidate_cache(path)  # a listing cached earlier in this process may be stale
    if any(ch in path for ch in "*?["):
        files = sorted(fs.glob(path))
    elif fs.isdir(path):
        files = sorted(
            p for p in fs.find(path)
            if p.endswith(".parquet") and not any(part.startswith(("_", ".")) for part in p[len(path.rstrip("/")):].split("/"))
        )
    elif fs.exists(path):
        files = [path]
    else:
        _check_bucket(fs, path)
        raise InputError(f"input.uri: nothing found at {uri}")
    if not files:
        raise InputError(f"input.uri: no .parquet files at {uri}")
    return files


def _check_bucket(fs: fsspec.AbstractFileSystem, path: str) -> None:
    """On an object store, a missing bucket raises here (a permanent error) instead of
    reading as "nothing found": s3fs's exists() answers False for it."""
    if set(fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,)) & S3_PROTOCOLS:
        fs.ls(path.split("/", 1)[0])


def plan_units(fs: fsspec.AbstractFileSystem, files: list[str]) -> list[Unit]:
    return [retrying(lambda: _plan_unit(fs, path), field="input.uri", where=_where(fs, path), what="reading the input's "
                     "metadata") for path in files]


def _plan_unit(fs: fsspec.AbstractFileSystem, path: str) -> Unit:
    info = fs.info(path)
    version = str(info.get("ETag") or info.get("etag") or info.get("mtime") or info.get("LastModified") or "")
    with fs.open(path, "rb") as f:
        footer = pq.ParquetFile(f)
        rows, schema = footer.metadata.num_rows, footer.schema_arrow
    return Unit(path=path, size=int(info["size"]), version=version, rows=rows, schema=schema)


def check_ids(fs: fsspec.AbstractFileSystem, files: list[str], id_column: str, limit: int = 10) -> None:
    """Fail, naming them, on null or duplicate ids. Reads only the id column."""
    def read_ids(path: str) -> pa.ChunkedArray:
        with fs.open(path, "rb") as f:
            return pq.read_table(f, columns=[id_column]).column(0)

    ids = pa.chunked_array([
        chunk for path in files
        for chunk in retrying(lambda: read_ids(path), field="input.uri", where=_where(fs, path), what="reading ids").chunks
    ])
    if ids.null_count:
        raise InputError(f"input.id_column: {ids.null_count} row(s) have a null {id_column}")
    counts = pc.value_counts(ids)
    duplicated = pc.filter(counts.field("values"), pc.greater(counts.field("counts"), 1))
    if len(duplicated):
        shown = ", ".join(map(str, duplicated[:limit].to_pylist()))
        raise InputError(f"input.id_column: {len(duplicated)} duplicate {id_column} value(s), e.g. {shown}")


def read_parquet_table(uri: str, storage_options: dict) -> pa.Table:
    """Every row of the Parquet file(s) at `uri` as one table (a gold sample: small)."""
    fs, path = filesystem_for(uri, storage_options)
    tables = []
    for file in list_parquet_files(fs, path, uri):
        with fs.open(file, "rb") as f:
            tables.append(pq.read_table(f))
    return pa.concat_tables(tables, promote_options="default")

"""The input as units of work: one unit per Parquet file, with the identity that
decides whether an earlier run's output for it can be reused."""

import hashlib
from dataclasses import dataclass

import fsspec
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq


class InputError(ValueError):
    """The input cannot be read as the spec describes it."""


@dataclass(frozen=True)
class Unit:
    path: str  # as the filesystem names it (no protocol), the same string Ray Data reports
    size: int
    version: str  # ETag on object stores, mtime on file systems
    rows: int

    def key(self, job_fingerprint: str) -> str:
        identity = f"{job_fingerprint}\0{self.path}\0{self.size}\0{self.version}"
        return hashlib.sha256(identity.encode()).hexdigest()[:20]


def filesystem_for(uri: str, storage_options: dict) -> tuple[fsspec.AbstractFileSystem, str]:
    fs, path = fsspec.core.url_to_fs(uri, **storage_options)
    return fs, path


def list_parquet_files(fs: fsspec.AbstractFileSystem, path: str, uri: str) -> list[str]:
    """A file, every `.parquet` under a folder (skipping `_`/`.` entries), or a glob's matches."""
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
        raise InputError(f"input.uri: nothing found at {uri}")
    if not files:
        raise InputError(f"input.uri: no .parquet files at {uri}")
    return files


def plan_units(fs: fsspec.AbstractFileSystem, files: list[str]) -> list[Unit]:
    units = []
    for path in files:
        info = fs.info(path)
        version = str(info.get("ETag") or info.get("etag") or info.get("mtime") or info.get("LastModified") or "")
        with fs.open(path, "rb") as f:
            rows = pq.ParquetFile(f).metadata.num_rows
        units.append(Unit(path=path, size=int(info["size"]), version=version, rows=rows))
    return units


def input_schema(fs: fsspec.AbstractFileSystem, path: str) -> pa.Schema:
    with fs.open(path, "rb") as f:
        return pq.ParquetFile(f).schema_arrow


def check_ids(fs: fsspec.AbstractFileSystem, files: list[str], id_column: str, limit: int = 10) -> None:
    """Fail, naming them, on null or duplicate ids. Reads only the id column."""
    ids = pa.chunked_array(
        [pq.read_table(f, columns=[id_column]).column(0) for f in (fs.open(p, "rb") for p in files)]
    )
    if ids.null_count:
        raise InputError(f"input.id_column: {ids.null_count} row(s) have a null {id_column}")
    counts = pc.value_counts(ids)
    duplicated = pc.filter(counts.field("values"), pc.greater(counts.field("counts"), 1))
    if len(duplicated):
        shown = ", ".join(map(str, duplicated[:limit].to_pylist()))
        raise InputError(f"input.id_column: {len(duplicated)} duplicate {id_column} value(s), e.g. {shown}")

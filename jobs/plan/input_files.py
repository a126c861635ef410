"""The input's Parquet files: found by one listing, described by their footers.

A listing gives every file's size and ETag (mtime on file systems) at once, so no file
needs a request of its own for its identity. Footers are read concurrently, each with
one ranged read of the file's tail, on a bounded number of threads (an object store
answers one small request in tens of milliseconds, so one-at-a-time reads of thousands
of footers would take minutes); each read has the storage retries of jobs/storage/request_retries.py.
"""

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq

from jobs.storage.filesystem import filesystem_for
from jobs.storage.request_retries import S3_PROTOCOLS, retrying

# Files whose footers (and id columns, jobs/plan/id_check.py) are read at once. s3fs
# serves every thread from one event loop, with up to 10 connections of its own.
PLANNING_THREADS = 16
# The tail read first: it holds the footer of any file of moderate width, and the
# whole of a small file.
TAIL_BYTES = 64 << 10
MAGIC = b"PAR1"


class InputError(ValueError):
    """The input cannot be read as the spec describes it."""


@dataclass(frozen=True)
class InputFile:
    path: str  # as the filesystem names it (no protocol)
    size: int
    version: str  # ETag on object stores, mtime on file systems
    row_groups: tuple[int, ...]  # rows of each row group, in file order
    schema: pa.Schema = field(compare=False, repr=False)

    @property
    def rows(self) -> int:
        return sum(self.row_groups)


def where(fs: fsspec.AbstractFileSystem, path: str) -> str:
    return fs.unstrip_protocol(path)


def list_parquet_files(fs: fsspec.AbstractFileSystem, path: str, uri: str) -> dict[str, dict]:
    """A file, every `.parquet` under a folder (skipping `_`/`.` entries), or a glob's
    matches: each file's listing entry (size, ETag or mtime) by path, in path order."""
    return retrying(lambda: _list_parquet_files(fs, path, uri), field="input.uri", where=uri, what="listing the input")


def _list_parquet_files(fs: fsspec.AbstractFileSystem, path: str, uri: str) -> dict[str, dict]:
    fs.invalidate_cache(path)  # a listing cached earlier in this process may be stale
    if any(ch in path for ch in "*?["):
        found = {p: info for p, info in fs.glob(path, detail=True).items() if info.get("type") != "directory"}
    elif fs.isdir(path):
        root = path.rstrip("/")
        found = {
            p: info for p, info in fs.find(path, detail=True).items()
            if p.endswith(".parquet") and not any(part.startswith(("_", ".")) for part in p[len(root):].split("/"))
        }
    elif fs.exists(path):
        found = {path: fs.info(path)}
    else:
        _check_bucket(fs, path)
        raise InputError(f"input.uri: nothing found at {uri}")
    if not found:
        raise InputError(f"input.uri: no .parquet files at {uri}")
    return dict(sorted(found.items()))


def _check_bucket(fs: fsspec.AbstractFileSystem, path: str) -> None:
    """On an object store, a missing bucket raises here (a permanent error) instead of
    reading as "nothing found": s3fs's exists() answers False for it."""
    if set(fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,)) & S3_PROTOCOLS:
        fs.ls(path.split("/", 1)[0])


def file_version(info: dict) -> str:
    return str(info.get("ETag") or info.get("etag") or info.get("mtime") or info.get("LastModified") or "")


def read_input_files(fs: fsspec.AbstractFileSystem, listing: dict[str, dict],
                     threads: int = PLANNING_THREADS) -> list[InputFile]:
    """Every listed file's footer, read `threads` at a time; in listing order."""
    def describe(item: tuple[str, dict]) -> InputFile:
        path, info = item
        return retrying(lambda: _read_footer(fs, path, info), field="input.uri", where=where(fs, path),
                        what="reading the input's metadata")

    return in_threads(describe, listing.items(), threads)


def in_threads(work, items, threads: int) -> list:
    """`work` over `items`, `threads` at a time, results in order; the first error raises."""
    items = list(items)
    if threads <= 1 or len(items) <= 1:
        return [work(item) for item in items]
    with ThreadPoolExecutor(max_workers=min(threads, len(items)), thread_name_prefix="k2batch-plan") as pool:
        return list(pool.map(work, items))


def _read_footer(fs: fsspec.AbstractFileSystem, path: str, info: dict) -> InputFile:
    size = int(info["size"])
    if size < len(MAGIC) * 2 + 4:
        raise InputError(f"input.uri: {where(fs, path)} is not a Parquet file ({size} bytes)")
    tail = fs.cat_file(path, start=max(0, size - TAIL_BYTES), end=size)
    if tail[-4:] != MAGIC:
        raise InputError(f"input.uri: {where(fs, path)} is not a Parquet file (no PAR1 at its end)")
    footer = int.from_bytes(tail[-8:-4], "little") + 8
    if footer > len(tail):  # a wide file: its footer is longer than the first guess
        tail = fs.cat_file(path, start=size - footer, end=size)
    try:  # the footer alone parses as a file once its leading magic is there
        metadata = pq.read_metadata(pa.BufferReader(MAGIC + tail[-footer:]))
    except pa.ArrowException as err:
        raise InputError(f"input.uri: {where(fs, path)} is not a readable Parquet file: {err}") from err
    return InputFile(path=path, size=size, version=file_version(info),
                     row_groups=tuple(metadata.row_group(i).num_rows for i in range(metadata.num_row_groups)),
                     schema=metadata.schema.to_arrow_schema())


def read_parquet_table(uri: str, storage_options: dict) -> pa.Table:
    """Every row of the Parquet file(s) at `uri` as one table (a gold sample: small)."""
    fs, path = filesystem_for(uri, storage_options)
    tables = []
    for file in list_parquet_files(fs, path, uri):
        with fs.open(file, "rb") as f:
            tables.append(pq.read_table(f))
    return pa.concat_tables(tables, promote_options="default")

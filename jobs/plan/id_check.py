"""The id check: no null and no duplicate id in the whole input, in bounded memory.

Ids are read file by file (only the id column, a batch at a time, `ID_THREADS` files at a
time) and spread by hash over buckets of about `BUCKET_IDS` ids in a temporary folder;
equal ids land in the same bucket, so each bucket is checked on its own. The driver holds
one bucket at a time, whatever the input's size (an input of up to `BUCKET_IDS` ids is one
bucket, kept in memory). Ray Data's own checkpointing, by contrast, loads every id.
"""

import tempfile
import threading
from pathlib import Path

import fsspec
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from jobs.plan.input_files import InputError, InputFile, in_threads, where
from jobs.storage.request_retries import retrying

BUCKET_IDS = 1 << 18
READ_BATCH_ROWS = 1 << 14
# Files whose ids are read at once: fewer than footers, because each reading thread keeps
# decoding buffers (measured: 16 threads held ~300 MiB more than one, 4 threads ~60).
ID_THREADS = 4
# Reads in blocks of 1 MiB: a small file in one request, and in a big one little more
# than the id column (fsspec's default block is 5-50 MiB).
STREAM_BUFFER_BYTES = 1 << 20


def check_ids(fs: fsspec.AbstractFileSystem, files: list[InputFile], id_column: str, *, limit: int = 10,
              threads: int = ID_THREADS, bucket_ids: int = BUCKET_IDS) -> None:
    """Fail, naming them, on null or duplicate ids."""
    total = sum(f.rows for f in files)
    buckets = max(1, -(-total // bucket_ids))
    with tempfile.TemporaryDirectory(prefix="k2batch-ids-") as folder:
        spread = _Buckets(Path(folder), buckets)

        def read(file: InputFile) -> int:
            return retrying(lambda: spread.add_file(fs, file, id_column), field="input.uri", where=where(fs, file.path),
                            what="reading ids")

        nulls = sum(in_threads(read, files, threads))
        if nulls:
            raise InputError(f"input.id_column: {nulls} row(s) have a null {id_column}")
        duplicated, examples = 0, []
        for ids in spread.each():
            counts = pc.value_counts(ids)
            values = pc.filter(counts.field("values"), pc.greater(counts.field("counts"), 1))
            duplicated += len(values)
            # sorted: a bucket holds its ids in the order the reading threads added them
            examples += sorted(values.to_pylist())[: limit - len(examples)]
    if duplicated:
        raise InputError(f"input.id_column: {duplicated} duplicate {id_column} value(s), e.g. {', '.join(map(str, examples))}")


class _Buckets:
    """Ids spread by hash: in memory for one bucket, else one Arrow stream file per bucket.
    Each read of a file writes under its own tag, so the ids of a read that failed midway
    (and was retried) are left out when the buckets are checked."""

    def __init__(self, folder: Path, count: int):
        self.count = count
        self.paths = [folder / f"{n}.arrows" for n in range(count)]
        self.writers: list = [None] * count
        self.memory: list[pa.RecordBatch] = []
        self.lock = threading.Lock()
        self.reads = 0
        self.failed: set[int] = set()

    def add_file(self, fs: fsspec.AbstractFileSystem, file: InputFile, id_column: str) -> int:
        """Spread one file's ids, a batch at a time; its null count."""
        with self.lock:
            tag, self.reads = self.reads, self.reads + 1
        nulls = 0
        try:
            with fs.open(file.path, "rb", size=file.size, block_size=STREAM_BUFFER_BYTES) as f:
                # Streamed (no pre-buffering, which would fetch a file's whole id column at once).
                parquet = pq.ParquetFile(f, pre_buffer=False, buffer_size=STREAM_BUFFER_BYTES)
                for batch in parquet.iter_batches(batch_size=READ_BATCH_ROWS, columns=[id_column]):
                    ids = batch.column(0)
                    nulls += ids.null_count
                    # Files are read and decoded side by side; their batches are spread one
                    # at a time, so that one batch's hashing (Python objects) is in memory.
                    with self.lock:
                        self._write(self._split(ids.drop_null()), tag)
        except BaseException:
            with self.lock:
                self.failed.add(tag)
            raise
        return nulls

    def _split(self, ids: pa.Array) -> list[pa.Array]:
        if self.count == 1:
            return [ids]
        bucket = pd.util.hash_array(ids.to_numpy(zero_copy_only=False), categorize=False) % np.uint64(self.count)
        order = np.argsort(bucket, kind="stable")
        ends = np.searchsorted(bucket[order], np.arange(1, self.count + 1, dtype=np.uint64))
        ordered = ids.take(pa.array(order))
        return [ordered.slice(start, end - start) for start, end in zip([0, *ends[:-1]], ends)]

    def _write(self, split: list[pa.Array], tag: int) -> None:
        for n, ids in enumerate(split):
            if not len(ids):
                continue
            batch = pa.record_batch([ids, pa.repeat(pa.scalar(tag, pa.int32()), len(ids))], names=["id", "read"])
            if self.count == 1:
                self.memory.append(batch)
                continue
            if self.writers[n] is None:
                self.writers[n] = pa.ipc.new_stream(str(self.paths[n]), batch.schema)
            self.writers[n].write_batch(batch)

    def each(self):
        """Each bucket's ids (of the reads that finished) as one array."""
        if self.count == 1:
            tables = [pa.Table.from_batches(self.memory)] if self.memory else []
        else:
            tables = (self._read_bucket(n) for n, writer in enumerate(self.writers) if writer is not None)
        for table in tables:
            if self.failed:
                table = table.filter(pc.invert(pc.is_in(table.column("read"), pa.array(sorted(self.failed), pa.int32()))))
            yield table.column("id")

    def _read_bucket(self, n: int) -> pa.Table:
        self.writers[n].close()
        with pa.ipc.open_stream(str(self.paths[n])) as reader:
            return reader.read_all()

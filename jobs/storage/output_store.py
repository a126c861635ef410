"""The output folder: committed units, their manifest, staging and the summary.

Layout under `output.uri` (a local folder or any fsspec URL, e.g. s3://bucket/prefix/):
  records/part-<unit>-<n>.parquet, rejects/part-<unit>-<n>.parquet   committed files
  _manifest/<unit>.json    one entry per committed unit: the commit point
  _staging/                files of units still running, never read
  summary.json

A unit's files are moved out of staging first, then its manifest entry is written (an
object store's PUT is atomic; locally the entry is written aside and renamed). A crash
in between leaves files that no entry lists: the next run deletes them before it
starts. On S3 a move is a copy and a delete, so a reader that may race a crash reads
`committed_files()` (the manifest's list) instead of listing records/.

A unit is a row range of one input file (jobs/plan/input_units.py); its entry holds the
file's identity (path, size, ETag/mtime) and the range (`start`, `rows`). Entries of an
earlier layout are upgraded before a run plans (jobs/driver/manifest_upgrade.py).

What `output.mode` does with earlier results, whose units are keyed by the job
fingerprint (prompt, schema, model, sampling), the input file's identity and the range:
  resume          reuse units of this fingerprint whose input file is unchanged; retire
                  (un-list, then delete) units whose input file changed or is gone;
                  refuse to run if any unit has another fingerprint (never mix), or if
                  units of one file overlap (jobs/driver/resume.py).
  overwrite       delete every earlier result first.
  fail_if_exists  refuse to run if there is any earlier result.
"""

import logging
import uuid
from typing import Callable

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq

from jobs.storage.committed_unit import CommittedUnit
from jobs.storage.request_retries import is_permanent, retrying
from jobs.storage.run_summary import SUMMARY_NAME, RunSummary

log = logging.getLogger("k2batch")
KINDS = ("records", "rejects")
EMPTY_FILE = "part-empty.parquet"  # a kind's typed, empty dataset when no unit wrote one (jobs/driver/empty_outputs.py)


class OutputConflictError(ValueError):
    """The output folder holds results this run must not mix with."""



class OutputStore:
    def __init__(self, fs: fsspec.AbstractFileSystem, root: str):
        self.fs = fs
        self.root = root.rstrip("/")
        protocols = fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,)
        self.is_local = bool({"file", "local"} & set(protocols))
        self.uri = self.root if self.is_local else fs.unstrip_protocol(self.root)

    def path(self, *parts: str) -> str:
        """`parts` joined under the output root."""
        return "/".join([self.root, *parts])

    def file_path(self, listed: str) -> str:
        """A file a manifest entry lists, as this filesystem names it: relative to the root,
        or a table's data file by its URI (jobs/storage/tables/)."""
        return self.fs._strip_protocol(listed) if "://" in listed else self.path(listed)

    def _step(self, what: str, step):
        return retrying(step, field="output.uri", where=self.uri, what=what)

    def committed(self) -> dict[str, CommittedUnit]:
        return self._step("reading the manifest", self._read_manifest)

    def _read_manifest(self) -> dict[str, CommittedUnit]:
        manifest = self.path("_manifest")
        self.fs.invalidate_cache(manifest)  # other processes write entries; never trust a cached listing
        if not self.fs.exists(manifest):
            return {}
        paths = [path for path in self.fs.find(manifest) if path.endswith(".json")]
        units = {}
        # One request per entry, sent together (s3fs gathers them): thousands of units
        # must not mean thousands of round trips one after another.
        for text in self.fs.cat(paths, on_error="raise").values() if paths else ():
            entry = CommittedUnit.from_json(text)
            units[entry.key] = entry
        return units

    def prepare(self, *, mode: str, job_fingerprint: str,
                upgrade: Callable[[dict[str, CommittedUnit]], dict[str, CommittedUnit]]) -> dict[str, CommittedUnit]:
        """Apply `output.mode` and refuse to mix job fingerprints; the committed units
        that earlier runs left, each passed through `upgrade` (the manifest's upgrade
        step: jobs/driver/manifest_upgrade.py). `settle` then keeps the ones the run reuses."""
        self.fs.invalidate_cache(self.root)
        if mode == "overwrite":
            self._step("deleting earlier results", self._delete_everything)
        committed = upgrade(self.committed())
        if mode == "fail_if_exists" and (committed or self._step("checking for a summary", lambda: self.fs.exists(self.path(SUMMARY_NAME)))):
            raise OutputConflictError(f"output.uri {self.uri} already holds results and output.mode is fail_if_exists")
        foreign = {u.fingerprints[-1] for u in committed.values() if job_fingerprint not in u.fingerprints}
        if foreign:
            raise OutputConflictError(
                f"output.uri {self.uri} holds results of another job fingerprint ({', '.join(sorted(foreign))}): "
                "the prompt, schema, model or sampling changed, and output.mode resume never mixes results. "
                "Use output.mode: overwrite, or a new output.uri; or re-run only the rejects with this spec: "
                "k2batch run --retry-rejects"
            )
        return committed

    def settle(self, committed: dict[str, CommittedUnit], reused: dict[str, CommittedUnit]) -> None:
        """Before any engine starts: retire the committed units the run does not reuse,
        delete files that no entry lists (a crashed run's), check that the output is writable."""
        for key in sorted(set(committed) - set(reused)):
            log.info("retiring unit %s: its input file %s changed or is gone", key, committed[key].input_path)
            self._step("retiring a unit", lambda key=key: self._remove(self.path("_manifest", f"{key}.json")))
        self._step("removing uncommitted files", lambda: self._remove_uncommitted(reused))
        self._step("checking write access", lambda: self._write_bytes(self.path("_staging", ".write-check"), b""))

    def _delete_everything(self) -> None:
        # The manifest goes first: a crash halfway leaves un-listed files, which are strays.
        for name in ("_manifest", *KINDS, "_staging", SUMMARY_NAME):
            if self.fs.exists(self.path(name)):
                self.fs.rm(self.path(name), recursive=True)

    def _remove(self, path: str) -> None:
        try:
            self.fs.rm(path)
        except FileNotFoundError as err:  # gone already: an earlier attempt removed it
            if is_permanent(err):
                raise

    def _remove_uncommitted(self, committed: dict[str, CommittedUnit]) -> None:
        listed = {path for unit in committed.values() for paths in unit.files.values() for path in paths}
        for kind in KINDS:
            folder = self.path(kind)
            if self.fs.exists(folder):
                for path in self.fs.find(folder):
                    if path[len(self.root) + 1:] not in listed and not path.endswith("/" + EMPTY_FILE):
                        log.info("removing %s: no manifest entry lists it (left by a crashed run)", path)
                        self._remove(path)
        self.clear_staging()

    def clear_staging(self) -> None:
        """Delete staged files: those of crashed runs, or of retried write tasks."""
        def clear():
            if self.fs.exists(self.path("_staging")):
                self.fs.rm(self.path("_staging"), recursive=True)

        self._step("clearing staging", clear)

    def new_staging_dir(self) -> str:
        return self.path("_staging", uuid.uuid4().hex)


    def commit(self, unit: CommittedUnit, staged: dict[str, list[str]]) -> CommittedUnit:
        """Publish a finished unit's staged files, then write its manifest entry."""
        for kind, paths in staged.items():
            for n, path in enumerate(paths):
                relative = f"{kind}/part-{unit.key}-{n}.parquet"
                self._step("publishing a unit's file", lambda src=path, dst=self.path(relative): self._move(src, dst))
                unit.files.setdefault(kind, []).append(relative)
        self.write_entry(unit)
        return unit

    def replace(self, unit: CommittedUnit, staged: dict[str, list[str]], drop: list[str]) -> CommittedUnit:
        """Replace a committed unit (a retry's, jobs/driver/retry_rejects.py): publish the staged
        files under new names, overwrite the entry (the commit point: before it the old
        entry stands, after it the new one), then delete the files only the old entry
        listed (`drop`). A crash leaves files that no entry lists: the next run deletes them."""
        token = uuid.uuid4().hex[:8]
        for kind, paths in staged.items():
            for n, path in enumerate(paths):
                relative = f"{kind}/part-{unit.key}-{token}-{n}.parquet"
                self._step("publishing a unit's file", lambda src=path, dst=self.path(relative): self._move(src, dst))
                unit.files.setdefault(kind, []).append(relative)
        self.write_entry(unit)
        for relative in drop:
            self._step("deleting a replaced file", lambda path=self.path(relative): self._remove(path))
        return unit

    def move(self, src: str, dst: str) -> None:
        """Move a staged file to `dst` (a path of this filesystem): a rename on local disk."""
        self._step("moving a unit's file", lambda: self._move(src, dst))

    def write_text(self, relative: str, text: str) -> None:
        self._step(f"writing {relative}", lambda: self._write_text(self.path(relative), text))

    def read_text(self, relative: str) -> str | None:
        path = self.path(relative)
        data = self._step(f"reading {relative}", lambda: self.fs.cat_file(path) if self.fs.exists(path) else None)
        return None if data is None else data.decode()

    def write_entry(self, unit: CommittedUnit) -> None:
        """Write a unit's entry: the commit point of its files."""
        self._step("writing a manifest entry", lambda: self._write_text(self.path("_manifest", f"{unit.key}.json"), unit.to_json()))

    def _move(self, src: str, dst: str) -> None:
        if self.is_local:
            self.fs.makedirs(dst.rsplit("/", 1)[0], exist_ok=True)
        try:
            self.fs.mv(src, dst)
        except FileNotFoundError:
            if not self.fs.exists(dst):  # not moved by an earlier attempt either
                raise

    def write_summary(self, summary: RunSummary) -> None:
        self._step("writing summary.json", lambda: self._write_text(self.path(SUMMARY_NAME), summary.to_json()))

    def read_summary(self) -> RunSummary | None:
        """The summary of the output's last finished run; None if it has none."""
        path = self.path(SUMMARY_NAME)
        text = self._step("reading summary.json", lambda: self.fs.cat_file(path) if self.fs.exists(path) else None)
        return None if text is None else RunSummary.model_validate_json(text)

    def write_parquet(self, path: str, table: pa.Table) -> None:
        """One Parquet file at `path`, written whole (an object store's PUT is atomic)."""
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink)
        data = sink.getvalue().to_pybytes()
        self._step("writing a Parquet file", lambda: self._write_bytes(path, data))

    def remove_file(self, path: str) -> None:
        if self._step("checking for a file", lambda: self.fs.exists(path)):
            self._step("removing a file", lambda: self._remove(path))

    def _write_text(self, path: str, text: str) -> None:
        text = text.encode()
        if self.is_local:
            # Write aside then rename, so a reader never sees half an entry.
            tmp = f"{path}.{uuid.uuid4().hex}.tmp"
            self._write_bytes(tmp, text)
            self.fs.mv(tmp, path)
        else:
            self._write_bytes(path, text)  # an object store's PUT is atomic by itself

    def _write_bytes(self, path: str, data: bytes) -> None:
        if self.is_local:
            self.fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
        # No makedirs on object stores: s3fs's would try to create a missing bucket
        # instead of failing on it.
        self.fs.pipe_file(path, data)

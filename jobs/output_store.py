"""The output folder: committed units, their manifest, staging and the summary.

Layout under `output.uri`:
  records/part-<unit>-<n>.parquet, rejects/part-<unit>-<n>.parquet   committed files
  _manifest/<unit>.json    one entry per committed unit: the commit point
  _staging/                files of units still running, never read
  summary.json

A unit's files are moved out of staging first, then its manifest entry is written.
A crash in between leaves files that no entry lists: the next run deletes them before
it starts, and a reader that may race a crash reads `committed_files()` instead.
"""

import json
import uuid
from dataclasses import dataclass, field

import fsspec


class OutputConflictError(ValueError):
    """The output folder holds results this run must not mix with."""


@dataclass
class CommittedUnit:
    key: str
    input_path: str
    job_fingerprint: str
    rows: int
    records: int
    rejects: int
    prompt_tokens: int
    completion_tokens: int
    reasons: dict[str, int]
    files: dict[str, list[str]] = field(default_factory=dict)  # kind -> paths relative to the root


class OutputStore:
    def __init__(self, fs: fsspec.AbstractFileSystem, root: str):
        self.fs = fs
        self.root = root.rstrip("/")

    def _path(self, *parts: str) -> str:
        return "/".join([self.root, *parts])

    def committed(self) -> dict[str, CommittedUnit]:
        manifest = self._path("_manifest")
        if not self.fs.exists(manifest):
            return {}
        units = {}
        for path in self.fs.find(manifest):
            if path.endswith(".json"):
                entry = CommittedUnit(**json.loads(self.fs.cat_file(path)))
                units[entry.key] = entry
        return units

    def prepare(self, *, mode: str, job_fingerprint: str) -> dict[str, CommittedUnit]:
        """Apply `output.mode`, clear leftovers of crashed runs, return reusable units."""
        if mode == "overwrite":
            for name in ("records", "rejects", "_manifest", "_staging", "summary.json"):
                if self.fs.exists(self._path(name)):
                    self.fs.rm(self._path(name), recursive=True)
        committed = self.committed()
        if mode == "fail_if_exists" and (committed or self.fs.exists(self._path("summary.json"))):
            raise OutputConflictError(f"output.uri {self.root} already holds results and output.mode is fail_if_exists")
        foreign = {u.job_fingerprint for u in committed.values()} - {job_fingerprint}
        if foreign:
            raise OutputConflictError(
                f"output.uri {self.root} holds results of another job fingerprint ({', '.join(sorted(foreign))}): "
                "the prompt, schema, model or sampling changed. Use output.mode: overwrite, or a new output.uri"
            )
        self._remove_uncommitted(committed)
        return committed

    def _remove_uncommitted(self, committed: dict[str, CommittedUnit]) -> None:
        listed = {path for unit in committed.values() for paths in unit.files.values() for path in paths}
        for kind in ("records", "rejects"):
            folder = self._path(kind)
            if self.fs.exists(folder):
                for path in self.fs.find(folder):
                    if path[len(self.root) + 1:] not in listed:
                        self.fs.rm(path)
        if self.fs.exists(self._path("_staging")):
            self.fs.rm(self._path("_staging"), recursive=True)

    def new_staging_dir(self) -> str:
        return self._path("_staging", uuid.uuid4().hex)

    def commit(self, unit: CommittedUnit, staged: dict[str, list[str]]) -> CommittedUnit:
        """Publish a finished unit's staged files, then write its manifest entry."""
        for kind, paths in staged.items():
            for n, path in enumerate(paths):
                relative = f"{kind}/part-{unit.key}-{n}.parquet"
                self.fs.makedirs(self._path(kind), exist_ok=True)
                self.fs.mv(path, self._path(relative))
                unit.files.setdefault(kind, []).append(relative)
        self._write_json(self._path("_manifest", f"{unit.key}.json"), unit.__dict__)
        return unit

    def write_summary(self, summary: dict) -> None:
        self._write_json(self._path("summary.json"), summary)

    def _write_json(self, path: str, data: dict) -> None:
        parent = path.rsplit("/", 1)[0]
        self.fs.makedirs(parent, exist_ok=True)
        text = json.dumps(data, indent=2, sort_keys=True)
        if "file" in self.fs.protocol or "local" in self.fs.protocol:
            # Write then rename, so a reader never sees half an entry; an object
            # store's PUT is atomic by itself.
            tmp = f"{path}.{uuid.uuid4().hex}.tmp"
            self.fs.pipe_file(tmp, text.encode())
            self.fs.mv(tmp, path)
        else:
            self.fs.pipe_file(path, text.encode())


def committed_files(uri: str, kind: str, storage_options: dict | None = None) -> list[str]:
    """The `records` or `rejects` files a reader should use: those the manifest lists."""
    fs, root = fsspec.core.url_to_fs(uri, **(storage_options or {}))
    store = OutputStore(fs, root)
    return sorted(store._path(p) for u in store.committed().values() for p in u.files.get(kind, []))

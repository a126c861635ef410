"""A run's log and timeline: a folder of its own under `_logs/`, written in the output
while the run lasts when the output is local, else locally and copied at the end."""

import re
import uuid
from datetime import datetime, timezone

import fsspec
import pytest
from fsspec.implementations.local import LocalFileSystem

from jobs.storage.output_store import OutputStore
from jobs.watch.run_files import LOG_NAME, LOGS, TIMELINE_NAME, RunFiles

STARTED = datetime(2026, 11, 26, 8, 30, 5, tzinfo=timezone.utc)


@pytest.fixture
def object_store(monkeypatch, tmp_path):
    """An output that is not a local folder (fsspec's in-memory filesystem); the run's local
    copy goes under this test's temporary folder."""
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    fs = fsspec.filesystem("memory")
    root = f"/k2batch-test-{uuid.uuid4().hex}/out"
    yield OutputStore(fs, root)
    fs.rm(root.rsplit("/", 1)[0], recursive=True)


def test_a_run_gets_a_folder_named_by_its_start_and_run_id(tmp_path):
    store = OutputStore(LocalFileSystem(), str(tmp_path / "out"))
    files = RunFiles.for_run(store, "news-daily[ds=2026-11-26]", STARTED)
    assert files.folder.startswith(f"{LOGS}/20261126T083005Z-")
    assert re.fullmatch(r"[A-Za-z0-9._=-]+", files.folder.split("/", 1)[1]), "a folder name any store accepts"
    assert "news-daily" in files.folder and "ds=2026-11-26" in files.folder
    assert RunFiles.for_run(store, "news-daily[ds=2026-11-27]", STARTED).folder != files.folder
    assert RunFiles.for_run(store, "news-daily[ds=2026-11-26]", STARTED.replace(hour=9)).folder != files.folder


def test_a_local_output_holds_the_log_while_the_run_lasts(tmp_path):
    store = OutputStore(LocalFileSystem(), str(tmp_path / "out"))
    files = RunFiles.for_run(store, "news", STARTED)
    assert not files.copied and files.log_file == tmp_path / "out" / files.folder / LOG_NAME
    assert files.where(store) == str(files.log_file)
    files.publish(store, '{"version": 1}')
    assert (tmp_path / "out" / files.folder / TIMELINE_NAME).read_text() == '{"version": 1}'


def test_an_object_store_output_gets_the_log_and_timeline_copied_at_the_end(object_store, tmp_path):
    files = RunFiles.for_run(object_store, "news", STARTED)
    assert files.copied and files.local_dir.is_relative_to(tmp_path / "tmp")
    assert files.where(object_store) == f"{files.log_file} (copied to {object_store.uri}/{files.folder}/ at the end)"
    files.local_dir.mkdir(parents=True)
    files.log_file.write_text("engine started\n")
    files.publish(object_store, '{"version": 1}')
    copied = object_store.path(files.folder)
    assert object_store.fs.cat_file(f"{copied}/{LOG_NAME}") == b"engine started\n"
    assert object_store.fs.cat_file(f"{copied}/{TIMELINE_NAME}") == b'{"version": 1}'

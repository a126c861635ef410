"""One run's own files under the output: `_logs/<UTC start>-<run id>/` holds `k2batch.log`
(the engine's, Ray's and k2batch's logs) and `timeline.json` (what `k2batch report`
plots over time). A folder per run: a retry after a crash keeps the crashed run's log.

The log is written where an operator can follow it while the run lasts: in the output
folder itself when that is local, else in a local folder, copied to the output when the
run ends (successful or not).
"""

import re
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from jobs.storage.output_store import OutputStore
from jobs.storage.request_retries import retrying

LOGS = "_logs"
LOG_NAME = "k2batch.log"
TIMELINE_NAME = "timeline.json"
REPORT_NAME = "report.html"  # next to summary.json (jobs/report/)
LOG_NOTE = "k2batch log: "  # the note a failed run's exception carries: where its log is (jobs/cli/errors.py)


@dataclass(frozen=True)
class RunFiles:
    folder: str  # relative to the output root: _logs/<name>
    local_dir: Path  # where the log is written while the run lasts
    copied: bool  # the local folder is copied to the output at the end (an object-store output)

    @classmethod
    def for_run(cls, store: OutputStore, run_id: str, started: datetime | None = None) -> "RunFiles":
        stamp = (started or datetime.now(timezone.utc)).strftime("%Y%m%dT%H%M%SZ")
        name = f"{stamp}-{re.sub(r'[^A-Za-z0-9._=-]+', '_', run_id)}"
        folder = f"{LOGS}/{name}"
        if store.is_local:
            return cls(folder=folder, local_dir=Path(store.path(folder)), copied=False)
        return cls(folder=folder, local_dir=Path(tempfile.gettempdir()) / "k2batch-logs" / name, copied=True)

    @property
    def log_file(self) -> Path:
        return self.local_dir / LOG_NAME

    def where(self, store: OutputStore) -> str:
        """The log file, as the run's first line names it."""
        if not self.copied:
            return str(self.log_file)
        return f"{self.log_file} (copied to {store.uri}/{self.folder}/ at the end)"

    def publish(self, store: OutputStore, timeline_json: str) -> None:
        """Write the timeline next to the log; copy both to an object-store output."""
        self.local_dir.mkdir(parents=True, exist_ok=True)
        (self.local_dir / TIMELINE_NAME).write_text(timeline_json)
        if self.copied:
            for path in sorted(self.local_dir.iterdir()):
                retrying(lambda path=path: store.fs.put_file(str(path), store.path(self.folder, path.name)),
                         field="output.uri", where=store.uri, what="copying the run's log")

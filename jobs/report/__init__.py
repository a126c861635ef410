"""The job report: one self-contained HTML page about a finished output (`k2batch report`,
and report.html that `k2batch run` writes next to summary.json)."""

from jobs.watch.run_files import REPORT_NAME
from jobs.watch.timeline import Timeline
from jobs.report.data import ReportData, ReportError, load_report_data
from jobs.report.page import render_page
from jobs.storage.filesystem import filesystem_for
from jobs.storage.output_store import OutputStore
from jobs.storage.request_retries import retrying


def write_report(uri: str, storage_options: dict | None = None, out: str | None = None, *,
                 summary: dict | None = None, timeline: Timeline | None = None) -> str:
    """Render the report of the output at `uri`; write it to `out` (a local path or
    URL), by default report.html next to summary.json. The path or URL written.
    `summary` and `timeline`: a run's own, before they are written (else read)."""
    page = render_page(load_report_data(uri, storage_options, summary=summary, timeline=timeline))
    if out is None:
        fs, root = filesystem_for(uri, storage_options or {})
        store = OutputStore(fs, root)
        target, where = store.path(REPORT_NAME), f"{store.uri}/{REPORT_NAME}"
    else:
        fs, target = filesystem_for(out, storage_options if "://" in out else {})
        where = out
    if "file" in (fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,)):
        fs.makedirs(fs._parent(target), exist_ok=True)
    retrying(lambda: fs.pipe_file(target, page.encode()), field="--out" if out else "output.uri", where=where,
             what="writing the report")
    return where


__all__ = ["REPORT_NAME", "ReportData", "ReportError", "load_report_data", "write_report"]

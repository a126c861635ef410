"""The job report: one self-contained HTML page about a finished output (`k2batch report`,
and report.html that `k2batch run` writes next to summary.json from what it holds)."""

from jobs.report.data import ReportData, ReportError, load_report_data
from jobs.report.page import render_page
from jobs.storage.filesystem import filesystem_for
from jobs.storage.output_store import OutputStore
from jobs.storage.request_retries import retrying
from jobs.watch.run_files import REPORT_NAME


def write_report(store: OutputStore, data: ReportData | None = None, out: str | None = None,
                 out_options: dict | None = None) -> str:
    """Render the report of the output in `store` (`data`: what a run holds, else read
    from the output); write it to `out` (a local path or URL, with `out_options`), by
    default report.html next to summary.json. The path or URL written."""
    page = render_page(data or load_report_data(store))
    if out is None:
        fs, target, where = store.fs, store.path(REPORT_NAME), f"{store.uri}/{REPORT_NAME}"
    else:
        fs, target = filesystem_for(out, out_options or {})
        where = out
    if "file" in (fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,)):
        fs.makedirs(fs._parent(target), exist_ok=True)
    retrying(lambda: fs.pipe_file(target, page.encode()), field="--out" if out else "output.uri", where=where,
             what="writing the report")
    return where


__all__ = ["REPORT_NAME", "ReportData", "ReportError", "load_report_data", "write_report"]

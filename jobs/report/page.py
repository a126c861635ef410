"""The job report as one self-contained HTML page: every plot inline as SVG, no script,
no stylesheet or font fetched, so it opens from a mail attachment or an object store."""

import html
import io
import json

from jobs.report.data import ReportData
from jobs.report.figures import section_figure, sections

SLOWEST = 10
STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 1150px; color: #222; padding: 0 1em; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; } h2 { border-bottom: 1px solid #ddd; margin-top: 1.8em; }
table { border-collapse: collapse; } td, th { padding: 0.25em 0.8em; border-bottom: 1px solid #eee; text-align: left; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
pre { background: #f6f6f6; padding: 0.6em; white-space: pre-wrap; word-break: break-word; }
.note { color: #666; } .stalled { color: #b00; font-weight: bold; } svg { max-width: 100%; height: auto; }
"""


def render_page(data: ReportData) -> str:
    s = data.summary
    parts = [f"<h1>{_e(s.name)}: {s.input_rows} rows &rarr; {s.records} records, {s.rejects} rejects</h1>",
             f"<p class=note>k2batch report of {_e(data.uri)}</p>", _summary(data)]
    for section, heading, panels in sections(data):
        parts.append(f'<section id="{section}"><h2>{heading}</h2>{_svg(section_figure(panels, data))}</section>')
    parts += [_engines(data), _slowest_units(data), _provenance(data)]
    body = "\n".join(parts)
    return (f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{_e(s.name)}: k2batch report</title>"
            f"<style>{STYLE}</style></head><body>\n{body}\n</body></html>\n")


def _e(value) -> str:
    return html.escape(str(value))


def _svg(figure) -> str:
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", metadata={"Date": None})
    text = buffer.getvalue()
    return text[text.index("<svg"):]  # inline: without the XML declaration and doctype


def _table(rows: list[tuple], header: tuple | None = None) -> str:
    head = "<tr>" + "".join(f"<th>{_e(h)}</th>" for h in header) + "</tr>" if header else ""
    cells = ["<tr>" + "".join(f"<td class=n>{v}</td>" if isinstance(v, (int, float)) else f"<td>{_e(v)}</td>" for v in row)
             + "</tr>" for row in rows]
    return f"<table>{head}{''.join(cells)}</table>"


def _summary(data: ReportData) -> str:
    s, timeline = data.summary, data.timeline
    rows = [("run", s.run_id), ("started", timeline.started_at if timeline else "not recorded"),
            ("wall seconds", s.wall_seconds), ("input rows", s.input_rows), ("records", s.records),
            ("rejects", s.rejects), ("units", s.units), ("units reused from earlier runs", s.reused_units),
            ("prompt tokens", s.prompt_tokens), ("completion tokens", s.completion_tokens),
            ("cached prompt tokens", s.cached_prompt_tokens)]
    if s.confidence is not None:  # task.confidence
        rows += [("median confidence", s.confidence.quantiles.get("p50", "-")),
                 (f"records below the review threshold ({s.confidence.review_below:g})", s.confidence.below_review)]
    if timeline and timeline.engine_ready_s is not None:
        rows.insert(3, ("engine ready after (s)", timeline.engine_ready_s))
    stalled = f"<p class=stalled>{_e(timeline.stalled)}</p>" if timeline and timeline.stalled else ""
    logs = f"<p class=note>logs and timeline: {_e(data.uri)}/{_e(s.logs)}</p>" if s.logs else ""
    return f'<section id="summary"><h2>Summary</h2>{stalled}{_table(rows)}{logs}</section>'


def _engines(data: ReportData) -> str:
    """Rows per replica (where it ran, how often Ray restarted it), and the nodes lost."""
    s = data.summary
    heading = '<section id="engines"><h2>Engine replicas</h2>'
    if not s.engines:
        return f"{heading}<p class=note>no engine ran in the last run (every unit was reused)</p></section>"
    rows = [(f"replica {i}", e.node_id, e.restarts, e.rows, f"{e.rows / max(sum(r.rows for r in s.engines), 1):.0%}")
            for i, e in enumerate(s.engines, 1)]
    table = _table(rows, ("replica", "Ray node", "restarts", "rows answered", "share"))
    lost = [(n.node_id, n.address, n.lost_after_s, len(n.rerun_units), ", ".join(n.rerun_units) or "none")
            for n in s.lost_nodes]
    lost_table = (_table(lost, ("lost node", "address", "lost after (s)", "units run again", "which"))
                  if lost else "<p class=note>no node was lost</p>")
    note = "<p class=note>rows: of the units the last run committed, by the replica that answered them</p>"
    return heading + table + note + lost_table + "</section>"


def _slowest_units(data: ReportData) -> str:
    heading = '<section id="slowest-units"><h2>Slowest units</h2>'
    timed = [u for u in (data.timeline.units if data.timeline else []) if u.seconds is not None]
    if not timed:
        why = ("not recorded (an output of an earlier k2batch)" if data.timeline is None
               else "no unit ran in the last run (all were reused)")
        return f"{heading}<p class=note>{why}</p></section>"
    slowest = sorted(timed, key=lambda u: u.seconds, reverse=True)[:SLOWEST]
    rows = [(u.unit, u.rows, u.records, u.rejects, round(u.seconds, 1), round(u.commit_seconds, 3)) for u in slowest]
    note = "<p class=note>seconds: from a unit's first row in an engine to its commit, in the last run</p>"
    return heading + _table(rows, ("unit", "rows", "records", "rejects", "seconds", "commit seconds")) + note + "</section>"


def _provenance(data: ReportData) -> str:
    s, p = data.summary, data.provenance
    rows = [("model", s.model), ("k2batch version", s.k2batch_version),
            *((f"{name} fingerprint", value) for name, value in sorted(s.fingerprints.items()))]
    details = ""
    if p:
        schema = json.dumps(json.loads(p["k2batch.schema"]), indent=2) if "k2batch.schema" in p else ""
        details = (f"<h3>Prompt template</h3><pre>{_e(p.get('k2batch.prompt_template', ''))}</pre>"
                   f"<details><summary>System prompt</summary><pre>{_e(p.get('k2batch.system_prompt', ''))}</pre></details>"
                   f"<details><summary>Record schema (JSON Schema)</summary><pre>{_e(schema)}</pre></details>")
    return f'<section id="provenance"><h2>Provenance</h2>{_table(rows)}{details}</section>'

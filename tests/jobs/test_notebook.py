"""The notebook API as a data scientist uses it: examples/bulk_labeling.ipynb executed
top to bottom in a real Jupyter kernel (nbclient) on the tiny model and the demo data.
Two engine starts: the warm preview engine, then the run's own."""

import json
import re
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "examples" / "bulk_labeling.ipynb"
TOPICS = {"politics", "business", "science", "sports", "culture"}


def cell_text(cell) -> str:
    """Everything a cell showed: streams, plain-text results, error traces."""
    parts = []
    for output in cell.get("outputs", []):
        parts.append(output.get("text", ""))
        parts.append(output.get("data", {}).get("text/plain", ""))
    return "\n".join(parts)


@pytest.mark.engine
def test_the_bulk_labeling_notebook_runs_top_to_bottom(tmp_path, tiny_model, news_data, monkeypatch):
    import nbformat
    from nbclient import NotebookClient

    out = tmp_path / "labels"
    for name, value in {"K2BATCH_DEMO_MODEL": tiny_model, "K2BATCH_DEMO_DATA": news_data, "K2BATCH_DEMO_OUT": out}.items():
        monkeypatch.setenv(name, str(value))  # the kernel inherits this process's environment
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(notebook, timeout=900, kernel_name="python3",
                   resources={"metadata": {"path": str(NOTEBOOK.parent)}}).execute()  # raises on any cell error

    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    by_source = {cell.source.splitlines()[0]: cell for cell in code}
    first_preview = by_source["preview(job, n=8)"]
    shown = [o for o in first_preview.outputs if o["output_type"] == "execute_result"]
    assert "text/html" in shown[0]["data"], "a preview shows as a DataFrame"
    assert "warm preview of 4 rows" in cell_text(by_source["started = time.monotonic()"])

    run_cell = by_source["result = run(job)"]
    rows = len(pd.read_parquet(news_data))
    assert f"{rows}/{rows}" in cell_text(run_cell), "the progress bar reached every row"
    assert not re.search(r"pid=\d+|INFO|vLLM|Ray", cell_text(run_cell)), "engine or Ray logs in the cell"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["records"] + summary["rejects"] == rows
    assert set(summary["label_distribution"]) == TOPICS
    assert sum(summary["label_distribution"].values()) == summary["records"]

    queue = by_source["result.review(n=5)"]  # label mode's confidence is on by default
    shown = [o for o in queue.outputs if o["output_type"] == "execute_result"]
    assert "_confidence" in shown[0]["data"]["text/html"] and "body" in shown[0]["data"]["text/html"]

    plot = by_source["result.plot()"]
    assert any("image/png" in o.get("data", {}) for o in plot.outputs), f"the plot is drawn: {plot.outputs}"
    assert f"num_rows: {summary['records']}" in cell_text(by_source["import datasets"])

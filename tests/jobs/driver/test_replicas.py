"""`model.replicas: 2` on a local Ray cluster (one logical core each, `k2batch run` as a
user runs it): every row exactly once, both replicas answered rows, and summary.json's
`engines` and the report say where each ran, its restarts and how many rows it answered.
The same on two nodes, and a replica for a node that joins: tests/jobs/cluster/test_cluster_shape.py."""

import json

import pytest

from tests.conftest import read_kind, run_cli, write_job
from tests.jobs.cluster.test_cluster_shape import ROWS, label_job

pytestmark = pytest.mark.engine


def test_two_replicas_both_answer_rows_and_summary_json_says_how_many(tmp_path, tiny_model):
    job, output, ids = label_job(tmp_path, tiny_model, replicas=2)
    result = run_cli("run", str(job))
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    records, rejects = read_kind(output, "records"), read_kind(output, "rejects")
    assert sorted([*records["doc_id"], *rejects["doc_id"]]) == sorted(ids), "every row exactly once"

    engines = summary["engines"]
    assert len(engines) == 2 and all(e["rows"] > 0 for e in engines), engines
    assert sum(e["rows"] for e in engines) == ROWS and {e["restarts"] for e in engines} == {0}
    assert len({e["node_id"] for e in engines}) == 1, "one local node"
    page = (output / "report.html").read_text()
    section = page[page.index('<section id="engines">'):]
    section = section[:section.index("</section>")]
    assert all(f"<td class=n>{e['rows']}</td>" in section for e in engines), section
    assert summary["lost_nodes"] == []

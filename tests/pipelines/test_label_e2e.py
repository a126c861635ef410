"""Label mode end to end through the CLI on the tiny model, with Hugging Face `datasets`
at both ends: the input is a `datasets.Dataset` written as a Hub-style Parquet folder,
and the records open with `datasets.load_dataset("parquet", ...)`. One engine start."""

import json
from collections import Counter
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from jobs.notebook import input_from_dataset
from tests.conftest import job_spec, read_kind, run_cli, write_job

pytestmark = pytest.mark.engine

LABELS = {
    "politics": "government, councils, elections",
    "business": "companies, trade, ports",
    "science": "research and universities",
    "sports": "matches and teams",
    "culture": "arts, theatres, museums",
}


def label_job(input_uri: str, model: Path, out: Path, **task) -> dict:
    spec = job_spec(
        name="news-label",
        input={"uri": input_uri},
        task={"mode": "label", "labels": LABELS, "prompt": "What is this article about?\n\n{body}", **task},
        model={"source": str(model), "max_model_len": 2048, "max_tokens": 256},
        # A random-weight model fills the rationale with multi-byte characters that can
        # outrun max_tokens: such rows are `truncated` rejects, a quarter at most.
        output={"uri": str(out), "max_reject_rate": 0.25},
    )
    for key in ("schema", "tool_name", "tool_description"):
        spec["task"].pop(key)
    return spec


def test_every_label_is_declared_and_the_distribution_is_in_the_summary(tmp_path, tiny_model, news_data):
    import datasets

    articles = datasets.Dataset.from_pandas(pd.read_parquet(news_data)[["doc_id", "body"]], preserve_index=False)
    hub_input = input_from_dataset(articles, id_column="doc_id", folder=tmp_path / "hub")
    assert [p.relative_to(tmp_path / "hub").as_posix() for p in (tmp_path / "hub").rglob("*.parquet")] == [
        "data/train-00000-of-00001.parquet"]
    spec = label_job(hub_input.uri, tiny_model, tmp_path / "out", rationale=True)

    result = run_cli("run", str(write_job(tmp_path, spec)))
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads((tmp_path / "out/summary.json").read_text())
    assert summary["input_rows"] == len(articles) == summary["records"] + summary["rejects"]
    # Rejects come only from the random model's free-text rationale (cut off, or holding a
    # lone surrogate escape such as "\ud800", which JSON allows and a valid string does
    # not); the label is always in the set.
    assert set(summary["reject_reasons"]) <= {"truncated", "schema_invalid"}
    assert summary["records"] >= 0.75 * len(articles), summary["reject_reasons"]
    rejects = read_kind(tmp_path / "out", "rejects")
    # Each reason's rejects, as many as the summary counts: the random model may give no
    # schema_invalid reject, and then the summary must say so too.
    assert dict(Counter(rejects["reason"])) == summary["reject_reasons"], "the summary counts the rejects written"
    invalid = rejects.loc[rejects["reason"] == "schema_invalid", "error"]
    assert invalid.str.contains("unicode").all(), invalid.tolist()

    records = datasets.load_dataset("parquet", data_files=str(tmp_path / "out/records/*.parquet"), split="train")
    assert len(records) == summary["records"] > 0
    assert set(records["label"]) <= set(LABELS)
    assert all(len(r) <= 200 for r in records["rationale"])
    assert sorted([*records["doc_id"], *rejects["doc_id"]]) == sorted(articles["doc_id"])

    distribution = summary["label_distribution"]
    assert set(distribution) == set(LABELS), "every declared label, with or without records"
    assert distribution == {label: records["label"].count(label) for label in LABELS}

    schema = pq.read_schema(next((tmp_path / "out/records").glob("*.parquet")))
    assert schema.names[:3] == ["doc_id", "label", "rationale"]
    assert schema.field("label").type == pa.dictionary(pa.int32(), pa.string())

    # The same dataset maps to the same unit file, so a second run resumes instead of redoing it.
    assert input_from_dataset(articles, id_column="doc_id", folder=tmp_path / "hub") == hub_input
    again = run_cli("run", str(write_job(tmp_path, spec)))
    assert again.returncode == 0, again.stderr[-3000:]
    resumed = json.loads(again.stdout.strip().splitlines()[-1])
    assert resumed["reused_rows"] == len(articles) and resumed["label_distribution"] == distribution

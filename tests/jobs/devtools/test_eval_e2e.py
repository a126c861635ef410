"""`k2batch eval` and the demo job on the trained demo model, through the CLI with a real
vLLM engine and local Ray. Each test starts one engine per model it runs."""

import json
from pathlib import Path

import pandas as pd
import pytest

from examples.news_sample import write_sample
from examples.show_records import show
from tests.conftest import TRAINING_TIMEOUT_S, job_spec, run_cli, write_job

pytestmark = pytest.mark.engine
FIELDS = ["city", "country", "headlines"]


@pytest.fixture(scope="module")
def heldout_gold(tmp_path_factory) -> Path:
    """Held-out articles (never training items) with their expected records as columns."""
    folder = tmp_path_factory.mktemp("gold")
    write_sample(folder, rows=40, files=1, seed=2024)
    return folder / "part-0.parquet"


def evaluate(tmp_path: Path, model: Path, gold: Path) -> dict:
    job = write_job(tmp_path, job_spec(model={"source": str(model)}), name=f"{model.name}.yaml")
    out = tmp_path / f"eval-{model.name}.json"
    result = run_cli("eval", str(job), "--gold", str(gold), "--out", str(out))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "whole record" in result.stdout, "the table is printed"
    return json.loads(out.read_text())


@pytest.mark.timeout(TRAINING_TIMEOUT_S)
def test_eval_tells_the_trained_model_from_the_random_one(tmp_path, trained_model, tiny_model, heldout_gold):
    trained = evaluate(tmp_path, trained_model, heldout_gold)
    assert (trained["rows"], trained["records"], trained["rejects"]) == (40, 40, 0)
    assert trained["schema_valid_share"] == 1.0
    for field in FIELDS:
        assert trained["fields"][field]["accuracy"] >= 0.95, (field, trained["mismatches"])
    assert trained["record_pass_rate"] >= 0.9

    random = evaluate(tmp_path, tiny_model, heldout_gold)
    assert random["rows"] == 40 and random["records"] + random["rejects"] == 40
    # Near chance: one city in twenty, and a whole headline list is a long shot.
    for field in FIELDS:
        assert random["fields"][field]["accuracy"] <= 0.2, (field, random["fields"])
    assert random["record_pass_rate"] <= 0.05


@pytest.mark.timeout(TRAINING_TIMEOUT_S)
def test_demo_job_on_the_trained_model_extracts_the_known_answers(tmp_path, trained_model, news_data):
    out = tmp_path / "out"
    spec = job_spec(input={"uri": str(news_data)}, model={"source": str(trained_model)}, output={"uri": str(out)})
    result = run_cli("run", str(write_job(tmp_path, spec)))
    assert result.returncode == 0, result.stderr[-3000:]
    known = pd.read_parquet(news_data).set_index("doc_id")
    records = pd.read_parquet(out / "records").set_index("doc_id")
    assert sorted(records.index) == sorted(known.index), "every row is a record, none a reject"
    right = 0
    for doc_id, row in records.iterrows():
        expected = known.loc[doc_id]
        got_headlines = [{"title": h["title"], "topic": h["topic"]} for h in row["headlines"]]
        want_headlines = [dict(h) for h in expected["headlines"]]
        right += (row["city"], row["country"], got_headlines) == (expected["city"], expected["country"], want_headlines)
    # Measured 47 of 48 whole records (every field right).
    assert right >= 0.95 * len(known), f"{right} of {len(known)} records are exactly right"

    # What `make demo` prints: records beside their articles.
    shown = show(str(news_data), str(out), rows=2, id_column="doc_id", text_column="body")
    first = records.sort_index().iloc[0]
    assert known.loc[records.sort_index().index[0], "body"][:60] in shown
    assert f"city: {first['city']}" in shown and "headlines: [{'title': " in shown

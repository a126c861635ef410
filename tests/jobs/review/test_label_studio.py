"""An extraction's review queue as Label Studio files, without a server (label mode's go
through a real one in test_review_e2e.py): one control per field, choices for a string
enum, the value as JSON elsewhere, per-field scores, and a reject's task without a
prediction."""

from xml.etree import ElementTree

import pandas as pd

from jobs.review.label_studio import labeling_config, tasks
from jobs.review.queue import ReviewQueue
from operators.record_confidence import as_dict, named_probabilities
from schemas.examples.news import NewsHeadlines
from schemas.record_schema import RecordSchema


def extract_queue() -> ReviewQueue:
    schema = RecordSchema.from_model(NewsHeadlines)
    rows = pd.DataFrame({
        "doc_id": ["d2", "d1"], "body": ["A reject's text.", "Lyon, France: Mayor calls early election."],
        "city": [None, "Lyon"], "country": [None, "France"],
        "headlines": [None, [{"title": "Mayor calls early election", "topic": "politics"}]],
        "_confidence": [None, 0.25],
        "_field_confidence": [None, named_probabilities({"city": 0.9, "country": 0.8, "headlines": 0.25})],
        "reason": ["truncated", None], "error": ["cut", None]})
    return ReviewQueue(rows=rows, id_column="doc_id", text_columns=["body"], fields=schema.arrow_schema.names,
                       label_column=None, labels=[], record_schema=schema, model_version="fp")


def test_an_extraction_review_has_a_control_per_field_and_scores_per_field():
    queue = extract_queue()
    config = ElementTree.fromstring(labeling_config(queue))
    controls = {node.get("name"): node.tag for node in config if node.tag in ("TextArea", "Choices")}
    assert controls == {"city": "TextArea", "country": "TextArea", "headlines": "TextArea"}
    assert [node.get("value") for node in config if node.tag == "Text"] == ["$body"]

    reject, record = tasks(queue)
    assert reject == {"data": {"k2batch_id": "d2", "body": "A reject's text."}}, "a person answers a reject"
    (prediction,) = record["predictions"]
    assert prediction["score"] == 0.25 and prediction["model_version"] == "fp"
    results = {r["from_name"]: r for r in prediction["result"]}
    assert results["city"]["value"] == {"text": ["Lyon"]} and results["city"]["score"] == 0.9
    assert results["headlines"]["value"]["text"] == ['[{"title": "Mayor calls early election", "topic": "politics"}]']
    assert {r["to_name"] for r in results.values()} == {"input_body"}


def test_the_queue_parquet_opens_with_pandas_with_its_confidence_typed(tmp_path):
    from jobs.review import write_review

    written = write_review(extract_queue(), str(tmp_path / "review"))
    frame = pd.read_parquet(tmp_path / "review/review.parquet")
    assert written.rows == len(frame) == 2 and frame["doc_id"].tolist() == ["d2", "d1"]
    assert as_dict(frame.loc[1, "_field_confidence"]) == {"city": 0.9, "country": 0.8, "headlines": 0.25}
    assert pd.isna(frame.loc[0, "_confidence"]) and frame.loc[0, "reason"] == "truncated"

"""Scoring a job's output against gold records: what a user reads in eval.json."""

import json

import pyarrow as pa
import pytest

from jobs.devtools.evaluate import GoldError, format_report, gold_expectations, normalize, score
from schemas.examples.news import NewsHeadlines
from schemas.record_schema import RecordSchema

FIELDS = ["city", "country", "headlines"]
LYON = {"city": "Lyon", "country": "France", "headlines": [{"title": "Old theatre reopens", "topic": "culture"}]}
OSAKA = {"city": "Osaka", "country": "Japan", "headlines": [{"title": "Port record", "topic": "business"}]}
SCHEMA = RecordSchema.from_model(NewsHeadlines)


def validate(record):
    return SCHEMA.validate(record)[1]


def test_gold_from_columns_drops_nulls_and_keeps_nested_lists():
    table = pa.table({"doc_id": ["a", "b"], "body": ["x", "y"], "city": ["Lyon", None], "country": ["France", "Japan"],
                      "headlines": [LYON["headlines"], None]})
    gold = gold_expectations(table, id_column="doc_id", fields=FIELDS)
    assert gold == {"a": LYON, "b": {"country": "Japan"}}


def test_gold_from_one_json_column():
    table = pa.table({"doc_id": [1, 2], "expected": [json.dumps(LYON), json.dumps({"city": "Osaka", "country": None})]})
    gold = gold_expectations(table, id_column="doc_id", fields=FIELDS, expected_column="expected")
    assert gold == {1: LYON, 2: {"city": "Osaka"}}


@pytest.mark.parametrize(
    ("table", "kwargs", "message"),
    [
        (pa.table({"id": ["a"], "city": ["Lyon"]}), {}, "no id column 'doc_id'"),
        (pa.table({"doc_id": ["a"], "body": ["x"]}), {}, "no column named after a schema field"),
        (pa.table({"doc_id": ["a", "a"], "city": ["Lyon", "Lyon"]}), {}, "appears twice"),
        (pa.table({"doc_id": ["a"], "expected": ["{not json"]}), {"expected_column": "expected"}, "not valid JSON"),
        (pa.table({"doc_id": ["a"], "expected": ['{"mayor": "x"}']}), {"expected_column": "expected"}, "['mayor'] are not fields"),
        (pa.table({"doc_id": ["a"], "expected": ["[1]"]}), {"expected_column": "expected"}, "must be a JSON object"),
        (pa.table({"doc_id": ["a"]}), {"expected_column": "gold"}, "no column 'gold'"),
    ],
)
def test_unusable_gold_is_refused_with_the_reason(table, kwargs, message):
    with pytest.raises(GoldError, match=message.replace("[", r"\[").replace("]", r"\]")):
        gold_expectations(table, id_column="doc_id", fields=FIELDS, **kwargs)


def test_perfect_output_scores_one_everywhere():
    report = score({"a": LYON, "b": OSAKA}, {"a": LYON, "b": OSAKA}, {}, validate=validate)
    data = report.to_dict()
    assert (data["records"], data["rejects"], data["schema_valid_share"], data["record_pass_rate"]) == (2, 0, 1.0, 1.0)
    assert {f: s["accuracy"] for f, s in data["fields"].items()} == {"city": 1.0, "country": 1.0, "headlines": 1.0}
    assert data["mismatches"] == []


def test_rejects_count_as_wrong_on_every_field_and_a_wrong_field_fails_the_record():
    wrong_city = {**OSAKA, "city": "Kyoto"}
    report = score({"a": LYON, "b": OSAKA, "c": LYON}, {"a": LYON, "b": wrong_city}, {"c": "truncated"}, validate=validate)
    assert (report.records, report.rejects, report.schema_valid) == (2, 1, 2)
    assert report.fields["city"].correct == 1 and report.fields["city"].scored == 3
    assert report.fields["country"].accuracy == pytest.approx(2 / 3)
    assert report.record_pass_rate == pytest.approx(1 / 3)
    assert report.reject_reasons == {"truncated": 1}
    assert {"id": "b", "field": "city", "expected": "Osaka", "got": "Kyoto", "reject": None} in report.mismatches


def test_fields_missing_from_gold_are_not_scored():
    report = score({"a": {"city": "Lyon"}}, {"a": {**LYON, "country": "Spain"}}, {}, validate=validate)
    assert list(report.fields) == ["city"]
    assert report.record_pass_rate == 1.0


def test_order_of_nested_keys_and_null_optional_keys_do_not_matter():
    from_parquet = {"city": "Lyon", "country": "France", "headlines": [{"topic": "culture", "title": "Old theatre reopens", "note": None}]}
    assert normalize(from_parquet) == LYON
    report = score({"a": LYON}, {"a": from_parquet}, {}, validate=validate)
    assert report.passed == 1


def test_schema_invalid_records_lower_the_schema_valid_share():
    bad = {**LYON, "headlines": [{"title": "x", "topic": "weather"}]}
    report = score({"a": LYON, "b": LYON}, {"a": LYON, "b": bad}, {}, validate=validate)
    assert report.schema_valid_share == 0.5


def test_table_shows_each_field_and_the_whole_record():
    report = score({"a": LYON, "b": OSAKA}, {"a": LYON}, {"b": "schema_invalid"}, validate=validate)
    table = format_report(report)
    assert "rows 2   records 1   rejects 1   schema-valid 50.0%" in table
    assert [line.split()[0] for line in table.splitlines()[2:5]] == FIELDS
    assert "whole record       2        1     50.0%" in table
    assert "reject reasons: schema_invalid 1" in table

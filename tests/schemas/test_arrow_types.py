"""Schema to Arrow mapping: derived once from the JSON Schema, never inferred from data."""

import pyarrow as pa
import pytest

from schemas.arrow_types import arrow_schema
from schemas.examples.nested import Contact
from schemas.examples.news import NewsHeadlines
from schemas.record_schema import RecordSchema

ENUM = pa.dictionary(pa.int32(), pa.string())


def test_nested_model_maps_to_structs_lists_and_dictionary_enums():
    schema = arrow_schema(Contact.model_json_schema())
    assert schema.field("name").type == pa.string() and not schema.field("name").nullable
    assert schema.field("age").type == pa.int64()
    assert schema.field("score").type == pa.float64()
    assert schema.field("active").type == pa.bool_()
    assert schema.field("priority").type == ENUM
    assert schema.field("address").type == pa.struct(
        [pa.field("street", pa.string(), nullable=False), pa.field("postcode", pa.string())]
    )
    assert schema.field("tags").type == pa.list_(pa.string())
    assert schema.field("phones").type == pa.list_(pa.string()) and schema.field("phones").nullable


def test_news_headlines_keep_schema_order():
    schema = arrow_schema(NewsHeadlines.model_json_schema())
    assert schema.names == ["city", "country", "headlines"]
    title_topic = schema.field("headlines").type.value_type
    assert [f.name for f in title_topic] == ["title", "topic"] and title_topic.field("topic").type == ENUM


def test_free_form_object_becomes_json_text():
    schema = {"type": "object", "properties": {"extra": {"type": "object"}}, "required": ["extra"]}
    record_schema = RecordSchema(json_schema=schema, source="inline")
    assert record_schema.arrow_schema.field("extra").type == pa.json_()
    assert record_schema.to_arrow_row({"extra": {"a": [1, 2]}}) == {"extra": '{"a": [1, 2]}'}


@pytest.mark.parametrize(
    ("prop", "arrow_type"),
    [({"anyOf": [{"type": "string"}, {"type": "integer"}]}, pa.json_()), ({"type": "array"}, pa.list_(pa.json_())),
     ({"enum": ["a", 1]}, pa.json_())],
    ids=["union", "array-without-items", "mixed-enum"],
)
def test_fields_without_one_arrow_type_are_json_columns(prop, arrow_type):
    assert arrow_schema({"type": "object", "properties": {"x": prop}}).field("x").type == arrow_type


def test_validated_records_convert_to_the_derived_schema():
    record_schema = RecordSchema.from_model(Contact)
    record, errors = record_schema.validate(
        {"name": "Ann", "age": 30, "score": 0.5, "active": True, "priority": "high",
         "address": {"street": "Main St"}, "tags": ["a"]}
    )
    assert errors is None
    table = pa.Table.from_pylist([record_schema.to_arrow_row(record)], schema=record_schema.arrow_schema)
    assert table.to_pylist()[0]["address"] == {"street": "Main St", "postcode": None}


def test_an_absent_optional_struct_holding_an_enum_reads_back_in_pandas():
    from schemas.arrow_types import table_from_rows
    from schemas.examples.company_news import CompanyNews

    record_schema = RecordSchema.from_model(CompanyNews)
    rows = [record_schema.to_arrow_row({"company": "Acme", "event": "merger", "sentiment": "neutral", "people": [],
                                        "summary": "s"}),
            record_schema.to_arrow_row({"company": "Hooli", "event": "other", "sentiment": "positive", "summary": "t",
                                        "amount": {"value": 2.5, "currency": "EUR"},
                                        "people": [{"name": "Ana", "role": "ceo"}]})]
    table = table_from_rows(rows, record_schema.arrow_schema)
    table.validate(full=True)
    assert table.schema == record_schema.arrow_schema and table.field("amount").type.field("currency").type == ENUM
    frame = table.to_pandas()
    assert frame.at[0, "amount"] is None and frame.at[1, "amount"] == {"value": 2.5, "currency": "EUR"}
    only_absent = table_from_rows(rows[:1], record_schema.arrow_schema)  # a file where no row has the struct
    only_absent.validate(full=True)
    assert only_absent.to_pandas().at[0, "amount"] is None

"""Summarize mode's own parts: the spec rules on task.response_column, the standalone
summary's empty record schema, the summary turn, and the preview's summary columns."""

import pytest

from pipelines.summarize import SUMMARIZE
from schemas.record_schema import NO_RECORD_SOURCE
from tests.pipelines.test_mode import task


def test_with_extraction_it_needs_a_schema_and_says_how_to_do_without():
    SUMMARIZE.check_task(task())
    assert SUMMARIZE.record_schema(task()) is None
    with pytest.raises(ValueError) as raised:
        SUMMARIZE.check_task(task(schema_=None))
    assert str(raised.value) == ("task.schema: required in mode summarize (or task.response_column to summarize an "
                                 "existing JSON column)")


def test_a_json_column_is_summarized_without_a_schema():
    standalone = task(schema_=None, tool_name=None, tool_description=None, response_column="details")
    SUMMARIZE.check_task(standalone)
    schema = SUMMARIZE.record_schema(standalone)
    assert schema.source == NO_RECORD_SOURCE and schema.arrow_schema.names == []
    with pytest.raises(ValueError) as raised:
        SUMMARIZE.check_task(task(response_column="details"))
    assert str(raised.value) == ("task.response_column: a summary of an existing column has no extraction turn; remove "
                                 "task.schema")


def test_a_summary_follows_every_record_and_the_preview_shows_it():
    assert SUMMARIZE.summary_turn and SUMMARIZE.summary_column
    assert SUMMARIZE.task_fields == {"response_column"}
    assert SUMMARIZE.preview_columns == {"summary": "_summary", "_summary_cached_tokens": "_summary_cached_tokens"}
    assert SUMMARIZE.label_column(task()) is None

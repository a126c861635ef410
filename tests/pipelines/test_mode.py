"""The Mode's defaults (what extraction uses as is): task.schema offered as a tool is
required, the task's own schema is loaded, no summary turn, no label, no extra preview
columns; and the one attribute that decides both the engine's summary turn and the
writer's `summary` column."""

from types import SimpleNamespace

import pytest

from operators.engine_settings import ConfidenceSettings
from pipelines.extract import EXTRACT
from pipelines.mode import Mode
from pipelines.registry import MODES


def task(**fields) -> SimpleNamespace:
    base = dict(schema_="schemas.examples.news:NewsHeadlines", labels=None, label_field=None, rationale=False,
                response_column=None, tool_name="record", tool_description="Record it.", confidence=None)
    return SimpleNamespace(**{**base, **fields})


def test_the_defaults_take_the_tasks_own_schema_and_add_no_confidence():
    EXTRACT.check_task(task())
    assert EXTRACT.record_schema(task()) is None  # the caller loads task.schema
    assert EXTRACT.schema_problem(task(), record_schema=None) is None
    assert EXTRACT.task_defaults(task()) == {"confidence": False}  # per field: it costs more (docs/confidence.md)
    assert EXTRACT.confidence(task(), record_schema=None) is None
    assert EXTRACT.confidence(task(confidence=True), record_schema=None) == ConfidenceSettings()
    assert EXTRACT.label_column(task()) is None
    assert EXTRACT.preview_columns == {} and not EXTRACT.summary_turn and not EXTRACT.task_fields


@pytest.mark.parametrize(("fields", "message"), [
    ({"schema_": None}, "task.schema: required in mode extract"),
    ({"tool_name": None}, "task.tool_name: required with task.schema"),
    ({"tool_description": None}, "task.tool_description: required with task.schema"),
    ({"tool_name": None, "tool_description": None}, "task.tool_name: required with task.schema"),
])
def test_a_schema_and_its_tool_are_required(fields, message):
    with pytest.raises(ValueError) as raised:
        EXTRACT.check_task(task(**fields))
    assert str(raised.value) == message


def test_the_summary_column_is_the_summary_turn():
    assert all(mode.summary_column is mode.summary_turn for mode in MODES.values())
    assert {name for name, mode in MODES.items() if mode.summary_turn} == {"summarize"}


def test_a_field_belongs_to_one_mode_at_most():
    owners = [name for mode in MODES.values() for name in mode.task_fields]
    assert len(owners) == len(set(owners))
    assert repr(MODES["label"]) == "Mode('label')" and isinstance(MODES["label"], Mode)

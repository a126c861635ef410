"""The mode registry: one Mode per task.mode, each naming its prepare stage and writer column."""

import typing

from jobs.spec import TaskSpec
from operators.engine_settings import PromptSettings
from operators.prepare_prompts import PreparePrompts
from operators.prepare_summary_prompts import PrepareSummaryPrompts
from pipelines.flow_plan import FlowPlan, ReadSettings
from pipelines.registry import MODES


def test_every_task_mode_has_one_registered_mode():
    assert set(MODES) == set(typing.get_args(TaskSpec.model_fields["mode"].annotation))
    assert all(name == mode.name for name, mode in MODES.items())
    assert {name for name, mode in MODES.items() if mode.summary_column} == {"summarize"}


def plan(mode: str, response_column: str | None = None) -> FlowPlan:
    prompts = PromptSettings(id_column="id", prompt="{text}", prompt_columns=["text"], system_prompt="SYS", prime="",
                             tokenizer_source="unused", tokenizer_revision=None, max_model_len=512, max_tokens=64)
    return FlowPlan(mode=mode, read=ReadSettings(units=[], filesystem=None, columns=["id", "text"], schema=None), prompts=prompts,
                    response_column=response_column, engine=None, task=None, stage=None)


def test_each_mode_prepares_with_its_stage():
    assert type(MODES["extract"].prepare(plan("extract"))) is PreparePrompts
    assert type(MODES["label"].prepare(plan("label"))) is PreparePrompts
    assert type(MODES["summarize"].prepare(plan("summarize"))) is PreparePrompts
    standalone = MODES["summarize"].prepare(plan("summarize", response_column="details"))
    assert type(standalone) is PrepareSummaryPrompts and standalone.response_column == "details"

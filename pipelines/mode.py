"""A mode is one object that owns what is particular to it: the task fields it reads and
the spec rules on them, its record schema, whether a summary turn follows the record,
which output column holds its label, what its preview shows, and the prepare stage it
renders prompts with. The job spec, the resolver, the plan, the summary and the notebook
ask the mode (pipelines/registry.py MODES) and never branch on its name: a new mode is
one file here, registered in MODES, plus its tests."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Protocol

from operators.engine_settings import ConfidenceSettings
from operators.prepare_prompts import PreparePrompts
from schemas.record_schema import RecordSchema

if TYPE_CHECKING:
    from pipelines.flow_plan import FlowPlan


class TaskFields(Protocol):
    """The task fields a mode's rules read (jobs/spec/models.py TaskSpec has them)."""

    schema_: Any
    labels: list[str] | dict[str, str] | None
    label_field: str | None
    rationale: bool
    response_column: str | None
    tool_name: str | None
    tool_description: str | None
    confidence: bool | None


class Mode:
    name: str
    description: str  # what a job of this mode writes per row (the spec's task.mode description)
    # The engine asks for a summary of each record (TaskSettings.summarize) and the writer
    # adds the `summary` column: one attribute, so the two cannot disagree.
    summary_turn: bool = False
    task_fields: frozenset[str] = frozenset()  # task fields only this mode reads: every other mode refuses them
    preview_columns: dict[str, str] = {}  # the preview's extra columns: shown name -> the engine's answer column
    confidence_default = False  # task.confidence when the spec leaves it out

    def __repr__(self) -> str:
        return f"Mode({self.name!r})"

    @property
    def summary_column(self) -> bool:
        """The writer adds `summary` (operators/write_parquet.py)."""
        return self.summary_turn

    def prepare(self, plan: FlowPlan) -> Callable:
        """The prepare stage of this plan (it reads plan.read.columns)."""
        return PreparePrompts.from_settings(plan.prompts)

    def check_task(self, task: TaskFields) -> None:
        """This mode's rules on the task, besides refusing other modes' fields: a ValueError
        whose message names the field to fix."""
        self.require_schema(task)

    def task_defaults(self, task: TaskFields) -> dict[str, Any]:
        """Task fields this mode fills in when the spec leaves them empty."""
        return {"confidence": self.confidence_default}

    def confidence(self, task: TaskFields, record_schema: RecordSchema) -> ConfidenceSettings | None:
        """What the engine's answers carry with task.confidence on (operators/confident_answer.py):
        by default a confidence per top-level field; None when it is off."""
        return ConfidenceSettings() if task.confidence else None

    def record_schema(self, task: TaskFields) -> RecordSchema | None:
        """The record schema this mode builds for the task; None: the task's own
        (task.schema, which the caller loads)."""
        return None

    def schema_problem(self, task: TaskFields, record_schema: RecordSchema) -> str | None:
        """Why `record_schema` cannot serve this task, naming the field; None if it can."""
        return None

    def label_column(self, task: TaskFields) -> str | None:
        """The output column that holds each row's label (summary.json counts it); None: no label."""
        return None

    def require_schema(self, task: TaskFields, hint: str = "") -> None:
        """task.schema and the tool it is offered as are given."""
        if task.schema_ is None:
            raise ValueError(f"task.schema: required in mode {self.name}{hint}")
        if not (task.tool_name and task.tool_description):
            raise ValueError(f"task.{'tool_name' if not task.tool_name else 'tool_description'}: required with task.schema")

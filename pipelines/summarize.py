"""Summarize: extract a record, then have the model summarize it in bullet points (the
card's "JSON formatter" flow), both turns in the same engine actor; or, with
`task.response_column`, summarize an existing JSON column without the extraction turn.

read Parquet -> prepare prompts (+ the column's JSON) -> K2 engine (extract, re-ask;
summary turn, re-ask) -> write unit files with a `summary` column.
"""

from operators.prepare_summary_prompts import PrepareSummaryPrompts
from pipelines.mode import Mode, TaskFields
from schemas.record_schema import RecordSchema


class Summarize(Mode):
    name = "summarize"
    description = "that record (or task.response_column's JSON) then a bullet-point summary of it"
    summary_turn = True
    task_fields = frozenset({"response_column"})
    # the summary, and the summary turn's prefix-cache hit: whether the extraction prompt was reused
    preview_columns = {"summary": "_summary", "_summary_cached_tokens": "_summary_cached_tokens"}

    def prepare(self, plan):
        if plan.response_column:  # the plan's prime is "": the model answers the tool response in plain text
            return PrepareSummaryPrompts(response_column=plan.response_column, prompts=plan.prompts)
        return super().prepare(plan)

    def check_task(self, task: TaskFields) -> None:
        if not task.response_column:
            self.require_schema(task, hint=" (or task.response_column to summarize an existing JSON column)")
        elif task.schema_ is not None:
            raise ValueError("task.response_column: a summary of an existing column has no extraction turn; remove task.schema")
        elif task.confidence:
            raise ValueError("task.confidence: a summary of an existing column has no extracted record to be confident "
                             "about; remove task.confidence")

    def record_schema(self, task: TaskFields) -> RecordSchema | None:
        return RecordSchema.without_record() if task.response_column else None


SUMMARIZE = Summarize()

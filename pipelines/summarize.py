"""Summarize: extract a record, then have the model summarize it in bullet points (the
card's "JSON formatter" flow), both turns in the same engine actor; or, with
`task.response_column`, summarize an existing JSON column without the extraction turn.

read Parquet -> prepare prompts (+ the column's JSON) -> K2 engine (extract, re-ask;
summary turn, re-ask) -> write unit files with a `summary` column.
"""

from operators.prepare_prompts import PreparePrompts
from operators.prepare_summary_prompts import PrepareSummaryPrompts
from pipelines.flow_plan import FlowPlan
from pipelines.mode import Mode


def prepare_summary(plan: FlowPlan):
    if plan.response_column:  # the plan's prime is "": the model answers the tool response in plain text
        return PrepareSummaryPrompts(response_column=plan.response_column, prompts=plan.prompts)
    return PreparePrompts.from_settings(plan.prompts)


SUMMARIZE = Mode(name="summarize", description="a record, then a bullet-point summary of it", prepare=prepare_summary,
                 summary_column=True)

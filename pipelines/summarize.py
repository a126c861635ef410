"""Summarize: extract a record, then have the model summarize it in bullet points (the
card's "JSON formatter" flow), both turns in the same engine actor; or, with
`task.response_column`, summarize an existing JSON column without the extraction turn.

read Parquet -> prepare prompts (+ the column's JSON) -> K2 engine (extract, re-ask;
summary turn, re-ask) -> write unit files with a `summary` column.
"""

import ray

from operators.prepare_prompts import PreparePrompts, first_attempt_prime
from operators.prepare_summary_prompts import PrepareSummaryPrompts
from pipelines.extract import ExtractPlan, answer_rows, prompt_settings, read_rows, write_rows


def build_summarize(plan: ExtractPlan) -> ray.data.Dataset:
    task = plan.spec.task
    if task.response_column:
        prime = ""  # no call to open: the model answers the tool response in plain text
        rows = read_rows(plan, [*task.prompt_columns, task.response_column])
        stage = PrepareSummaryPrompts(response_column=task.response_column, **prompt_settings(plan))
    else:
        prime = first_attempt_prime(task.prime_tool_call)
        rows = read_rows(plan, task.prompt_columns)
        stage = PreparePrompts(prime=prime, **prompt_settings(plan))
    prompts = rows.map_batches(stage, batch_format="pandas")
    answers = answer_rows(prompts, plan, prime=prime, summarize=True)
    return write_rows(answers, plan, summary=True)

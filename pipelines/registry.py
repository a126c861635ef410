"""Every mode by name, and the one way a flow is built from a plan."""

import ray

from pipelines.extract import EXTRACT
from pipelines.flow_plan import FlowPlan
from pipelines.label import LABEL
from pipelines.mode import Mode
from pipelines.stages import answer_rows, read_rows, write_rows
from pipelines.summarize import SUMMARIZE

MODES: dict[str, Mode] = {mode.name: mode for mode in (EXTRACT, SUMMARIZE, LABEL)}


def build_flow(plan: FlowPlan) -> ray.data.Dataset:
    """read -> prepare -> engine -> write: a small dataset of written files, one row each."""
    mode = MODES[plan.mode]
    prompts = read_rows(plan.read).map_batches(mode.prepare(plan), batch_format="pandas")
    return write_rows(answer_rows(prompts, plan), plan, summary_column=mode.summary_column)

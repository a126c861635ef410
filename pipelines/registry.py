"""Every mode by name, and the one way a flow is built from a plan.

MODES is light to import (no Ray): the job spec's validation asks it for each mode's rules."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pipelines.extract import EXTRACT
from pipelines.label import LABEL
from pipelines.mode import Mode
from pipelines.summarize import SUMMARIZE

if TYPE_CHECKING:
    import ray

    from pipelines.flow_plan import FlowPlan

MODES: dict[str, Mode] = {mode.name: mode for mode in (EXTRACT, SUMMARIZE, LABEL)}


def build_flow(plan: FlowPlan) -> ray.data.Dataset:
    """read -> prepare -> engine -> write: a small dataset of written files, one row each."""
    from pipelines.stages import answer_rows, read_rows, write_rows

    mode = MODES[plan.mode]
    prompts = read_rows(plan.read).map_batches(mode.prepare(plan), batch_format="pandas")
    return write_rows(answer_rows(prompts, plan), plan, summary_column=mode.summary_column)

"""A mode is one object: the prepare stage it renders prompts with, whether the engine
adds a summary turn, and whether the writer adds the `summary` column. Flows are built
from it (pipelines/registry.py), for `k2batch run`, `k2batch eval` and the notebook alike."""

from dataclasses import dataclass
from typing import Callable

from pipelines.flow_plan import FlowPlan


@dataclass(frozen=True)
class Mode:
    name: str
    description: str
    prepare: Callable[[FlowPlan], Callable]  # the prepare stage for this plan (reads plan.read.columns)
    summary_column: bool  # the writer adds `summary` (the engine's summary turn, plan.task.summarize)

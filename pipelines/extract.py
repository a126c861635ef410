"""Extract: rows in, one schema-valid record (or a reject) per row out.

read Parquet -> prepare prompts -> K2 engine (generate, parse, validate, re-ask)
-> write unit files.
"""

from operators.prepare_prompts import PreparePrompts
from pipelines.flow_plan import FlowPlan
from pipelines.mode import Mode


def prepare_extraction(plan: FlowPlan) -> PreparePrompts:
    return PreparePrompts.from_settings(plan.prompts)


EXTRACT = Mode(name="extract", description="one schema-valid record per row", prepare=prepare_extraction,
               summary_column=False)

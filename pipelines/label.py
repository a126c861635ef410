"""Label: one label per row, from `task.labels` (a synthesized schema, schemas/labels.py)
or a string-enum field of the job's schema (`task.label_field`).

Labeling is extraction with that schema: the same stages, with constrained decoding
holding the answer to the label set. What is particular to it, the label distribution
in summary.json, is the driver's (jobs/driver/summary.py).
"""

from pipelines.extract import prepare_extraction
from pipelines.mode import Mode

LABEL = Mode(name="label", description="one of a fixed label set per row", prepare=prepare_extraction,
             summary_column=False)

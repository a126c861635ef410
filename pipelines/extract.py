"""Extract: rows in, one schema-valid record (or a reject) per row out.

read Parquet -> prepare prompts -> K2 engine (generate, parse, validate, re-ask)
-> write unit files.

Everything an extraction needs is the Mode's default: task.schema offered as a tool,
no summary turn, no label.
"""

from pipelines.mode import Mode


class Extract(Mode):
    name = "extract"
    description = "one schema-valid record per row"


EXTRACT = Extract()

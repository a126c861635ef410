"""The Arrow schema the input is read with: one type per column the job reads."""

import pyarrow as pa

from jobs.spec.errors import JobSpecError


def unified_read_schema(schemas: dict[str, pa.Schema], names: list[str], id_column: str) -> pa.Schema:
    """One type per column read. Files written at different times may disagree on a text
    column (strings in one, numbers in another): such a column is read as text, since it
    only fills the prompt. The id column must agree, or ids would not compare."""
    seen: dict[str, dict[pa.DataType, str]] = {n: {} for n in names}  # column -> type -> first file with it
    for path, schema in schemas.items():
        for name in names:
            if name not in schema.names:
                raise JobSpecError(f"input: {path} has no column {name!r}, which the spec reads")
            seen[name].setdefault(schema.field(name).type, path)
    fields = []
    for name in names:
        types = list(seen[name].items())
        if len(types) > 1 and name == id_column:
            (type_a, file_a), (type_b, file_b) = types[:2]
            raise JobSpecError(f"input.id_column: {name} is {type_a} in {file_a} but {type_b} in {file_b}")
        fields.append(pa.field(name, types[0][0] if len(types) == 1 else pa.string()))
    return pa.schema(fields)

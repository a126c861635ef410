"""The one error a record schema is refused with, naming where in the schema: a JSON
pointer (RFC 6901) into the user's document, so the spec error reads
`task.schema: /properties/a/oneOf: ...`."""


class UnsupportedSchemaError(ValueError):
    """A JSON Schema that cannot run; `pointer` is where ("" is the root)."""

    def __init__(self, pointer: str, what: str):
        self.pointer = pointer
        self.what = what
        super().__init__(f"{pointer or '/'}: {what}")

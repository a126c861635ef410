"""The error every pre-flight check raises for a spec that cannot run as written."""


class JobSpecError(ValueError):
    """The spec cannot run as written; the message names the field."""

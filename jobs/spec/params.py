"""Run parameters: `--param ds=2026-11-26` fills `{ds}` in the spec's URIs.

Only `input.uri` and `output.uri` take parameters: the prompt template's `{column}`
placeholders are row columns, filled per row, never by a parameter. A parameterized
output URI (`out/news/dt={ds}/`) gives every day its own output folder, so a scheduler
re-running a day resumes that day's units instead of writing them twice.
"""

import re
import string

PARAM_FIELDS = (("input", "uri"), ("output", "uri"))
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class ParamError(ValueError):
    """A parameter is missing, unknown or malformed; the message names it."""


def parse_params(pairs: list[str]) -> dict[str, str]:
    """`["ds=2026-11-26"]` -> `{"ds": "2026-11-26"}`; the value is taken verbatim."""
    params: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not _NAME.match(name):
            raise ParamError(f"--param {pair!r}: expected NAME=VALUE with NAME a plain identifier")
        if name in params:
            raise ParamError(f"--param {name} is given twice")
        params[name] = value
    return params


def placeholders(template: str, field: str) -> list[str]:
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as err:  # a lone brace
        raise ParamError(f"{field}: {err} in {template!r} (write a literal brace as {{{{ or }}}})") from err
    names = []
    for _, name, spec, conversion in parsed:
        if name is None:
            continue
        if not _NAME.match(name) or spec or conversion:
            written = name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "")
            raise ParamError(f"{field}: placeholder {{{written}}} must be a plain name like {{ds}}")
        names.append(name)
    return names


def fill_params(data: dict, params: dict[str, str]) -> None:
    """Fill the placeholders of the raw spec's URI fields in place. A placeholder
    without a value, and a value without a placeholder, are both errors: a typo in
    either would otherwise write one day's results over another's."""
    used: set[str] = set()
    for section, key in PARAM_FIELDS:
        node = data.get(section)
        if not isinstance(node, dict) or not isinstance(node.get(key), str):
            continue  # the spec's own validation names the missing field
        field = f"{section}.{key}"
        names = placeholders(node[key], field)
        missing = [n for n in names if n not in params]
        if missing:
            raise ParamError(f"{field}: placeholder {{{missing[0]}}} has no value; pass --param {missing[0]}=VALUE")
        used.update(names)
        node[key] = node[key].format(**params)
    unknown = sorted(set(params) - used)
    if unknown:
        fields = " or ".join(f"{s}.{k}" for s, k in PARAM_FIELDS)
        raise ParamError(f"--param {unknown[0]}: no {{{unknown[0]}}} placeholder in {fields}")


def default_run_id(job_name: str, params: dict[str, str]) -> str:
    """The job name plus its parameters, e.g. `news-daily[ds=2026-11-26]`: the same
    day gives the same id, whichever scheduler or retry started it."""
    if not params:
        return job_name
    return f"{job_name}[{','.join(f'{k}={params[k]}' for k in sorted(params))}]"

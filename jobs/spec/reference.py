"""The job spec reference, docs/spec-reference.md, rendered from the field descriptions
of the spec models (jobs/spec/models.py): one section per spec section, nested models
included, each a table of field path, type, default and description.

Regenerate with `python -m jobs.spec.reference > docs/spec-reference.md`;
tests/jobs/spec/test_reference.py fails when the committed file is out of date.
"""

import json
import re
import types
import typing
from typing import Any, Iterator

import annotated_types
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from jobs.spec.models import JobSpec

REGENERATE = "python -m jobs.spec.reference > docs/spec-reference.md"
_LONGEST_DEFAULT = 48  # longer defaults (the system prompt) are cut: the description says what they are

_BOUNDS = ((annotated_types.Ge, "ge", "≥"), (annotated_types.Gt, "gt", ">"), (annotated_types.Le, "le", "≤"),
           (annotated_types.Lt, "lt", "<"), (annotated_types.MinLen, "min_length", "length ≥"))  # as pydantic keeps them


def spec_models(model: type[BaseModel] = JobSpec, path: str = "",
                about: str = "") -> Iterator[tuple[str, type[BaseModel], str]]:
    """Every model of the spec with its path (`""` for the top level, `"task"`, ...) and
    the description of the field that holds it; parents before the models nested in them."""
    yield path, model, about
    for name, field in model.model_fields.items():
        for nested in _models_in(field.annotation):
            yield from spec_models(nested, _key(path, name, field), field.description or "")


def spec_reference() -> str:
    """docs/spec-reference.md, as Markdown."""
    lines = ["# Job spec reference", "",
             "Generated from the field descriptions in `jobs/spec/models.py` by", "", f"    {REGENERATE}", "",
             "Do not edit by hand. A job spec is YAML with the sections below; an unknown key is an error "
             "in every section. `--set KEY.PATH=VALUE` overrides any field by its path.", ""]
    for path, model, about in spec_models():
        lines += [f"## {_heading(path, model)}", ""] + ([_cell(about), ""] if about else [])
        lines += ["| field | type | default | description |", "|---|---|---|---|"]
        for name, field in model.model_fields.items():
            key = _key(path, name, field)
            row = (f"`{key}`", _type_cell(field, key), _default_cell(field), _cell(field.description or ""))
            lines.append("| " + " | ".join(row) + " |")
        lines.append("")
    return "\n".join(lines)


def _key(path: str, name: str, field: FieldInfo) -> str:
    """A field's path as a spec writes it: `task.schema`, the alias, not `schema_`."""
    return ".".join(filter(None, (path, field.alias or name)))


def _heading(path: str, model: type[BaseModel]) -> str:
    return f"{path} ({model.__name__})" if path else "Top level"


def _anchor(heading: str) -> str:
    """The id GitHub gives a Markdown heading."""
    return re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in _models_in(arg)]


def _type_name(annotation: Any, path: str) -> str:
    """`path`: the field's, so that a nested model links to its section."""
    if annotation is Any:
        return "any"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return f"[{annotation.__name__}](#{_anchor(_heading(path, annotation))})"
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Annotated:  # a union's tags (model.replicas): the type is what a spec writes
        return _type_name(args[0], path)
    if origin is typing.Literal:
        return " \\| ".join(json.dumps(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        return " \\| ".join("null" if a is type(None) else _type_name(a, path) for a in args)
    if origin is not None:
        return f"{getattr(origin, '__name__', str(origin))}[{', '.join(_type_name(a, path) for a in args)}]"
    return getattr(annotation, "__name__", str(annotation))


def _type_cell(field: FieldInfo, path: str) -> str:
    """The type, with the bounds pydantic checks (e.g. `int ≥ 1`, a pattern)."""
    bounds = []
    for meta in field.metadata:
        for kind, attr, sign in _BOUNDS:
            if isinstance(meta, kind):
                bounds.append(f"{sign} {getattr(meta, attr)}")
        if getattr(meta, "pattern", None):
            bounds.append(f"matching `{_one_line(meta.pattern)}`")
    return " ".join([_type_name(field.annotation, path), ", ".join(bounds)]).strip()


def _default_cell(field: FieldInfo) -> str:
    if field.is_required():
        return "required"
    text = json.dumps(field.get_default(call_default_factory=True), ensure_ascii=False)
    if len(text) > _LONGEST_DEFAULT:
        text = text[:_LONGEST_DEFAULT - 1] + "…"
    return f"`{_one_line(text)}`"


def _one_line(text: str) -> str:
    """Table-cell text: a single line, pipes escaped."""
    return re.sub(r"\s+", " ", text).strip().replace("|", "\\|")


def _cell(text: str) -> str:
    """Prose in a table cell: K2's tags (`<tool_call>`) shown, not read as HTML."""
    return _one_line(text).replace("<", "&lt;").replace(">", "&gt;")


if __name__ == "__main__":
    print(spec_reference(), end="")

"""A record schema: the JSON Schema the model is constrained to, the validator
its answers must pass, and the Arrow schema its records are written with.

A root that is not an object with properties (an array, a map, a union, a scalar) is
wrapped: the tool's parameters are `{"value": <schema>}` (K2's function calling takes an
object), the record has one column `value`, and the Parquet metadata says so
(`k2batch.root_column`). Reading back unwraps it (`from_arrow_row`).
"""

import copy
import hashlib
import importlib
import json
import re
from functools import cached_property
from pathlib import Path
from typing import Any

import pyarrow as pa
from pydantic import BaseModel, ValidationError

from schemas.arrow_types import VALUE_COLUMN, record_columns, root_shape
from schemas.grammar_schema import GrammarSchema, grammar_schema
from schemas.json_pointer import nested_beyond, pointer_to, unescape, value_at
from schemas.record_shape import RecordShapeError, Shape, Struct
from schemas.schema_error import UnsupportedSchemaError

# Modules a job spec may import a schema class from, besides its own
# `task.schema_modules`: nothing in a spec is evaluated as code.
TRUSTED_SCHEMA_PACKAGE = "schemas"
ROOT_COLUMN_METADATA = "k2batch.root_column"  # Parquet metadata of a wrapped root: the column holding the record
NO_RECORD_SOURCE = "none"  # a job without a record schema (a standalone summary): no record columns
MAX_NESTING = 200  # containers within containers: far beyond any schema that compiles, short of Python's recursion limit


class SchemaLoadError(ValueError):
    """The schema reference in a job spec cannot be loaded."""


class RecordSchema:
    """Either a pydantic model or a JSON Schema document, behind one interface."""

    def __init__(self, *, json_schema: Any, model: type[BaseModel] | None = None, source: str,
                 grammar_omits: tuple[str, ...] = ()):
        self.json_schema = json_schema
        self.model = model
        self.source = source
        # Keywords (JSON pointers) the backend cannot compile, left out of the grammar and
        # enforced by validation alone (schemas/constraint_compile.py finds them).
        self.grammar_omits = grammar_omits

    def omitting(self, pointer: str) -> "RecordSchema":
        """This schema with one more keyword left out of the grammar."""
        return RecordSchema(json_schema=self.json_schema, model=self.model, source=self.source,
                            grammar_omits=(*self.grammar_omits, pointer))

    @cached_property
    def grammar_source(self) -> Any:
        """The document the grammar is derived from: the schema without `grammar_omits`."""
        if not self.grammar_omits:
            return self.json_schema
        document = copy.deepcopy(self.json_schema)
        for pointer in self.grammar_omits:
            parent, _, key = pointer.rpartition("/")
            node = value_at(document, parent)
            if isinstance(node, dict):
                node.pop(unescape(key), None)
        return document

    @classmethod
    def without_record(cls) -> "RecordSchema":
        """A standalone summary's: no extracted fields, no tool, no constraint, no columns."""
        return cls(json_schema={"type": "object", "properties": {}}, source=NO_RECORD_SOURCE)

    @classmethod
    def from_model(cls, model: type[BaseModel]) -> "RecordSchema":
        return cls(json_schema=model.model_json_schema(), model=model, source=f"{model.__module__}:{model.__qualname__}")

    @classmethod
    def from_json_schema_file(cls, path: str | Path) -> "RecordSchema":
        try:
            document = json.loads(Path(path).read_text())
        except (OSError, json.JSONDecodeError, RecursionError) as err:
            raise SchemaLoadError(f"cannot read JSON Schema file {path}: {err}") from err
        if (deepest := nested_beyond(document, MAX_NESTING)) is not None:
            raise SchemaLoadError(f"{deepest}: {path} nests more than {MAX_NESTING} levels deep")
        if (error := _schema_error(document)) is not None:
            where = pointer_to("", *error.absolute_path) or "/"
            raise SchemaLoadError(f"{where}: {path} is not a valid JSON Schema: {error.message}")
        return cls(json_schema=document, source=str(path))

    @cached_property
    def grammar(self) -> GrammarSchema:
        """The schema in the form the structured-output backend is given (schemas/grammar_schema.py)."""
        if (deepest := nested_beyond(self.json_schema, MAX_NESTING)) is not None:
            raise UnsupportedSchemaError(deepest, f"nested more than {MAX_NESTING} levels deep")
        return grammar_schema(self.grammar_source)

    @cached_property
    def root_shape(self) -> Shape:
        """The shape of the whole record (schemas/record_shape.py)."""
        return root_shape(self.grammar)

    @cached_property
    def columns(self) -> Struct:
        """The record's columns as shapes: the root's fields, or one `value` column; none
        without a record schema (a standalone summary)."""
        if self.source == NO_RECORD_SOURCE:
            return Struct(fields=())
        return record_columns(self.root_shape)

    @cached_property
    def wrapped(self) -> bool:
        """The root is not an object with properties: the record is the one column `value`."""
        return bool(self.columns.fields) and self.columns is not self.root_shape

    @cached_property
    def arrow_schema(self) -> pa.Schema:
        metadata = {ROOT_COLUMN_METADATA: VALUE_COLUMN} if self.wrapped else None
        return pa.schema([f.arrow_field() for f in self.columns.fields], metadata=metadata)

    @cached_property
    def tool_parameters(self) -> dict[str, Any]:
        """The tool's `parameters` as the model reads them in the system prompt: the schema
        itself, or `{"value": <schema>}` (references bundled so they resolve there)."""
        if not self.wrapped:
            return self.json_schema
        bundled = self.grammar.bundled
        return bundled.document(_wrap(bundled.root, description="The record."))

    @cached_property
    def listing_parameters(self) -> dict[str, Any]:
        """`tool_parameters` with each shared definition once: the bundled schema, whose
        `$defs` hold only the definitions it references (what schemas/compact_listing.py
        compacts when the full listing does not fit the prompt)."""
        bundled = self.grammar.bundled
        return bundled.document(_wrap(bundled.root, description="The record.") if self.wrapped else bundled.root)

    @cached_property
    def constraint_parameters(self) -> dict[str, Any]:
        """The arguments' schema the decoder is held to (an object, `$defs` at its top)."""
        grammar = self.grammar
        root = _wrap(grammar.root) if self.wrapped else _without_null(grammar.root)
        return grammar.document(root)

    @cached_property
    def fingerprint(self) -> str:
        canonical = json.dumps(self.json_schema, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]

    @cached_property
    def _validator(self):
        """The validator of the draft the schema declares (`$schema`; 2020-12 when none),
        with format checking on."""
        import jsonschema

        cls = jsonschema.validators.validator_for(self.json_schema, default=jsonschema.Draft202012Validator)
        return cls(self.json_schema, format_checker=cls.FORMAT_CHECKER)

    def validate(self, arguments: Any) -> tuple[dict[str, Any] | None, str | None]:
        """Return the normalized record, or None and every validation error in one message.
        A record must also fit its columns (a 64-bit integer, no key without a column)."""
        if self.model is not None:
            try:
                record = self.model.model_validate(arguments).model_dump(mode="json", by_alias=True)
            except ValidationError as err:
                return None, "; ".join(
                    f"{'.'.join(map(str, e['loc'])) or '<root>'}: {e['msg']}" for e in err.errors()
                )
        else:
            record, errors = self._validate_json(arguments)
            if errors:
                return None, errors
        try:
            self.to_arrow_row(record)
        except RecordShapeError as err:
            return None, str(err)
        return record, None

    def _validate_json(self, arguments: Any) -> tuple[Any, str | None]:
        instance, prefix = arguments, []
        if self.wrapped:
            if not isinstance(arguments, dict) or set(arguments) != {VALUE_COLUMN}:
                return None, f"<root>: the arguments are an object with one key, {VALUE_COLUMN}, holding the record"
            instance, prefix = arguments[VALUE_COLUMN], [VALUE_COLUMN]
        try:
            errors = sorted(self._validator.iter_errors(instance), key=lambda e: [str(p) for p in e.absolute_path])
        except (RecursionError, re.error) as err:
            return None, f"<root>: the answer could not be validated: {type(err).__name__}: {err}"
        if errors:
            return None, "; ".join(
                f"{'.'.join(map(str, [*prefix, *e.absolute_path])) or '<root>'}: {e.message}" for e in errors
            )
        return arguments, None

    def to_arrow_row(self, record: dict[str, Any]) -> dict[str, Any]:
        """One row of `arrow_schema` (before enums and JSON columns are cast: see
        arrow_types.table_from_rows); RecordShapeError if the record does not fit."""
        return self.columns.to_arrow(record, None)

    def from_arrow_row(self, row: dict[str, Any]) -> Any:
        """The JSON value a row of `arrow_schema` was written from (JSON columns decoded,
        maps as objects, absent optional fields absent; a wrapped root unwrapped)."""
        record = self.columns.from_arrow(row)
        return record.get(VALUE_COLUMN) if self.wrapped else record


def _schema_error(document: Any):
    """The first way `document` breaks its draft's meta-schema, if any. A repeated value
    in a list the schema gives as a set (`enum`, `required`, `type`) changes nothing a
    validator does, so it is let through (real schemas repeat enum values)."""
    import jsonschema

    cls = jsonschema.validators.validator_for(document)
    meta = jsonschema.validators.validator_for(cls.META_SCHEMA, default=cls)
    errors = meta(cls.META_SCHEMA, format_checker=meta.FORMAT_CHECKER).iter_errors(document)
    return next((e for e in errors if e.validator != "uniqueItems"), None)


def _wrap(root: Any, description: str | None = None) -> dict[str, Any]:
    value = root if not description or not isinstance(root, dict) or "description" in root else {**root, "description": description}
    return {"type": "object", "properties": {VALUE_COLUMN: value}, "required": [VALUE_COLUMN], "additionalProperties": False}


def _without_null(root: dict[str, Any]) -> dict[str, Any]:
    """An object root that also allows null, as an object only: the call's arguments are one."""
    if isinstance(root.get("type"), list) and "null" in root["type"]:
        kept = [t for t in root["type"] if t != "null"]
        return {**root, "type": kept[0] if len(kept) == 1 else kept}
    if isinstance(root.get("anyOf"), list):
        kept = [b for b in root["anyOf"] if not (isinstance(b, dict) and b.get("type") == "null")]
        return {**root, "anyOf": kept} if len(kept) > 1 else {**{k: v for k, v in root.items() if k != "anyOf"}, **kept[0]}
    return root


def load_record_schema(reference: str | type[BaseModel], *, allowed_modules: tuple[str, ...] = (), base_dir: Path | None = None) -> RecordSchema:
    """Resolve `module:Class`, a pydantic class, or a path to a `.json` JSON Schema file.

    A `module:Class` is imported only from the `schemas` package or from `allowed_modules`.
    """
    if isinstance(reference, type) and issubclass(reference, BaseModel):
        return RecordSchema.from_model(reference)
    if not isinstance(reference, str):
        raise SchemaLoadError(f"expected 'module:Class' or a JSON Schema path, got {type(reference).__name__}")
    if reference.endswith(".json"):
        path = Path(reference)
        if not path.is_absolute() and base_dir is not None and not path.exists():
            path = base_dir / path
        return RecordSchema.from_json_schema_file(path)
    module_name, sep, class_name = reference.partition(":")
    if not sep or not module_name or not class_name:
        raise SchemaLoadError(f"{reference!r} is neither 'module:Class' nor a path ending in .json")
    trusted = (TRUSTED_SCHEMA_PACKAGE, *allowed_modules)
    if not any(module_name == m or module_name.startswith(m + ".") for m in trusted):
        raise SchemaLoadError(
            f"module {module_name!r} is not allowed: schemas are imported only from the 'schemas' package "
            "or from modules listed in task.schema_modules"
        )
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise SchemaLoadError(f"cannot import {module_name!r}: {err}") from err
    model = getattr(module, class_name, None)
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        raise SchemaLoadError(f"{reference!r} is not a pydantic model class")
    return RecordSchema.from_model(model)

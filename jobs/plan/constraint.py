"""Compile the decoding constraint before any engine starts, bounded in time, and say
where in the user's schema a constraint the backend cannot compile goes wrong."""

import copy
import json
import logging
import multiprocessing
import re
import time
from typing import Any, Callable

from jobs.spec.errors import JobSpecError
from schemas.grammar_schema import grammar_schema
from schemas.json_pointer import nested_beyond, pointer_to, unescape, value_at
from schemas.record_schema import RecordSchema
from schemas.schema_error import UnsupportedSchemaError
from schemas.subschemas import SUBSCHEMA_KEYWORDS, subschemas
from schemas.tool_call import tool_call_json_schema

log = logging.getLogger("k2batch")

COMPILE_TIME_LIMIT_S = 30.0
# Keywords the backend may fail to express although a value satisfies them (a pattern in
# a regex dialect xgrammar cannot parse): validation enforces them whatever the grammar
# does, so one that does not compile is left out of the grammar (up to MAX_OMITS)
# instead of refusing the schema. Other failures (an empty range, ...) are refusals.
VALIDATED_ONLY = frozenset({"pattern", "format"})
MAX_OMITS = 8
IMPORT_TIME_LIMIT_S = 300.0  # for the compiling child to import xgrammar, before the time limit starts
READY = "imported"
LOCATE_SHARE = 0.8  # of the time limit, for finding the failing subschema once a compile failed
# vllm.sampling_params.MAX_STRUCTURED_OUTPUT_JSON_NESTING: vLLM refuses every request
# whose schema nests containers deeper.
MAX_JSON_NESTING = 64


def check_constraint(record_schema: RecordSchema, *, tool_name: str, time_limit: float = COMPILE_TIME_LIMIT_S) -> RecordSchema:
    """`record_schema` once its tool-call constraint compiles the way the engine will
    compile it. A keyword the backend cannot compile that validation enforces anyway (a
    pattern xgrammar cannot parse, a bound it refuses) is left out of the grammar
    (`RecordSchema.omitting`); any other failure is a JobSpecError naming the JSON
    pointer of the construct."""
    deadline = time.monotonic() + time_limit
    while True:
        constraint = tool_call_json_schema(name=tool_name, parameters=record_schema.constraint_parameters)
        if (deepest := nested_beyond(constraint, MAX_JSON_NESTING)) is not None:
            raise JobSpecError(f"task.schema: {_user_pointer(deepest, record_schema) or '/'}: nested deeper than the "
                               f"{MAX_JSON_NESTING} levels vLLM's structured outputs accept")
        left = max(deadline - time.monotonic(), 1.0)
        failure = _in_child(_compile_or_locate, (constraint, record_schema.grammar_source, left * LOCATE_SHARE), left)
        if failure is None:
            return record_schema
        pointer, keyword, reason = failure
        where = pointer_to(pointer, keyword) if keyword else pointer
        if keyword in VALIDATED_ONLY and len(record_schema.grammar_omits) < MAX_OMITS:
            log.info("task.schema: %s: left to validation: xgrammar cannot compile it (%s)", where, reason)
            record_schema = record_schema.omitting(where)
            continue
        raise JobSpecError(f"task.schema: {where or '/'}: the structured-output backend (xgrammar) cannot compile it: {reason}")


def compile_constraint(schema: dict, time_limit: float = COMPILE_TIME_LIMIT_S) -> None:
    """Compile a finished constraint (no schema to point into) the way the engine will."""
    failure = _in_child(_compile_or_locate, (schema, None, 0.0), time_limit)
    if failure is not None:
        raise JobSpecError(f"task.schema: the structured-output backend (xgrammar) cannot compile it: {failure[-1]}")


def _in_child(target: Callable, args: tuple, time_limit: float) -> Any:
    """`target(*args, conn)` in a forked child, so that a schema that makes the compiler
    run away ends in an error instead of a hang; what it sent, or None. The time limit
    starts once the child has imported xgrammar (seconds on a busy machine)."""
    context = multiprocessing.get_context("fork")
    parent, child = context.Pipe(duplex=False)
    process = context.Process(target=target, args=(*args, child), daemon=True)
    process.start()
    child.close()
    try:
        if parent.poll(IMPORT_TIME_LIMIT_S) and parent.recv() == READY and parent.poll(time_limit):
            answer = parent.recv()
            process.join()
            return answer
    except EOFError:  # the child died without an answer: not the schema's fault
        process.join()
        raise RuntimeError(f"the constraint compile's process ended with exit code {process.exitcode}") from None
    process.kill()
    process.join()
    raise JobSpecError(f"task.schema: /: the structured-output backend did not compile it within {time_limit:.0f} s; "
                       "simplify the schema")


def _compile_or_locate(constraint: dict, document: Any, locate_for: float, conn) -> None:
    import xgrammar  # noqa: F401 - before the clock starts

    conn.send(READY)
    reason = _compile_error(constraint)
    if reason is None:
        conn.send(None)
        return
    started = time.monotonic()
    pointer, keyword = _locate(document, deadline=started + locate_for) if document is not None else ("", None)
    conn.send((pointer, keyword, reason))


def _compile_error(schema: Any) -> str | None:
    import xgrammar

    try:
        xgrammar.Grammar.from_json_schema(json.dumps(schema), any_whitespace=False, separators=(",", ":"))
        return None
    except Exception as err:  # xgrammar raises RuntimeError/ValueError variants
        text = (str(err) or type(err).__name__).strip().splitlines()[0]
        return re.sub(r"^\[[^\]]*\]\s*\S+:\d+:\s*", "", text)  # drop the C++ location


def _locate(document: Any, *, deadline: float) -> tuple[str, str | None]:
    """The deepest subschema of `document` whose grammar does not compile (references
    followed), and the keyword of it without which it compiles, if one is."""
    pointer, seen = "", {""}
    while time.monotonic() < deadline:
        for child in _children(value_at(document, pointer), pointer):
            if child not in seen and time.monotonic() < deadline:
                seen.add(child)
                if _fails(document, child):
                    pointer = child
                    break
        else:
            break
    node = value_at(document, pointer)
    if isinstance(node, dict):
        for key in node:
            if time.monotonic() >= deadline:
                break
            if key not in SUBSCHEMA_KEYWORDS and not _fails(_without(document, pointer, key), pointer):
                return pointer, key
    return pointer, None


def _fails(document: Any, pointer: str) -> bool:
    try:
        grammar = grammar_schema(document, entry=pointer)
    except UnsupportedSchemaError:
        return False
    return _compile_error(grammar.document()) is not None


def _children(node: Any, pointer: str) -> list[str]:
    """The pointers of `node`'s direct subschemas and of what its `$ref` names, in the
    node's key order: the first one that fails is where the search goes on."""
    if not isinstance(node, dict):
        return []
    children = []
    for key, value in node.items():
        if key == "$ref" and isinstance(value, str) and value.startswith("#/"):
            children.append(value[1:])
        else:
            children += [child for child, _ in subschemas(key, value, pointer_to(pointer, key))]
    return children


def _without(document: Any, pointer: str, key: str) -> Any:
    trimmed = copy.deepcopy(document)
    node = value_at(trimmed, pointer)
    if isinstance(node, dict):
        node.pop(key, None)
    return trimmed


def _user_pointer(pointer: str, record_schema: RecordSchema) -> str:
    """A pointer into the constraint as a pointer into the user's schema (where the two
    keep the same structure: the arguments' root, or a bundled definition's origin)."""
    arguments = "/properties/arguments" + ("/properties/value" if record_schema.wrapped else "")
    if pointer.startswith(arguments):
        return pointer[len(arguments):]
    match = re.match(r"^/\$defs/([^/]+)(.*)$", pointer)
    if match:
        origin = record_schema.grammar.bundled.origins.get(unescape(match.group(1)))
        return (origin or "") + match.group(2)
    return pointer

"""Compile a record schema's decoding constraint the way the engine will, before any
engine starts: in a child process with a time limit, since a schema can make the
compiler run away. A keyword validation enforces anyway is left out of the grammar when
it does not compile; any other failure is refused at the JSON pointer of its construct
(schemas/constraint_locate.py finds it). A constraint that compiled before on this machine
is not compiled again (schemas/compiled_constraints.py)."""

import json
import logging
import multiprocessing
import re
import time
from collections.abc import Callable
from typing import Any

from schemas.compiled_constraints import COMPILE_OPTIONS, compiled_before, remember_compiled
from schemas.constraint_locate import failing_construct, user_pointer
from schemas.json_pointer import nested_beyond, pointer_to
from schemas.record_schema import RecordSchema
from schemas.schema_error import UnsupportedSchemaError
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


def compile_record_constraint(record_schema: RecordSchema, *, tool_name: str,
                              time_limit: float = COMPILE_TIME_LIMIT_S) -> RecordSchema:
    """`record_schema` once its tool-call constraint compiles the way the engine will
    compile it. A keyword the backend cannot compile that validation enforces anyway (a
    pattern xgrammar cannot parse, a bound it refuses) is left out of the grammar
    (`RecordSchema.omitting`); any other failure is an UnsupportedSchemaError at the JSON
    pointer of the construct in the user's schema."""
    deadline = time.monotonic() + time_limit
    while True:
        constraint = tool_call_json_schema(name=tool_name, parameters=record_schema.constraint_parameters)
        if (deepest := nested_beyond(constraint, MAX_JSON_NESTING)) is not None:
            raise UnsupportedSchemaError(user_pointer(deepest, record_schema),
                                         f"nested deeper than the {MAX_JSON_NESTING} levels vLLM's structured outputs accept")
        left = max(deadline - time.monotonic(), 1.0)
        failure = _compile(constraint, record_schema.grammar_source, left)
        if failure is None:
            return record_schema
        pointer, keyword, reason = failure
        where = pointer_to(pointer, keyword) if keyword else pointer
        if keyword in VALIDATED_ONLY and len(record_schema.grammar_omits) < MAX_OMITS:
            log.info("task.schema: %s: left to validation: xgrammar cannot compile it (%s)", where, reason)
            record_schema = record_schema.omitting(where)
            continue
        raise UnsupportedSchemaError(where, f"the structured-output backend (xgrammar) cannot compile it: {reason}")


def compile_constraint(schema: dict, time_limit: float = COMPILE_TIME_LIMIT_S) -> None:
    """Compile a finished constraint (no schema to point into) the way the engine will."""
    failure = _compile(schema, None, time_limit)
    if failure is not None:
        raise UnsupportedSchemaError("", f"the structured-output backend (xgrammar) cannot compile it: {failure[-1]}")


def _compile(constraint: dict, document: Any, time_limit: float) -> tuple | None:
    """None if `constraint` compiles (known from an earlier compile on this machine, or
    compiled now in a child); otherwise (pointer, keyword, reason) of the failure, located
    in `document` when there is one."""
    if compiled_before(constraint):
        return None
    failure = _in_child(_compile_or_locate, (constraint, document, time_limit * LOCATE_SHARE), time_limit)
    if failure is None:
        remember_compiled(constraint)
    return failure


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
    raise UnsupportedSchemaError("", f"the structured-output backend did not compile it within {time_limit:.0f} s; "
                                 "simplify the schema")


def _compile_or_locate(constraint: dict, document: Any, locate_for: float, conn) -> None:
    import xgrammar  # noqa: F401 - before the clock starts

    conn.send(READY)
    reason = _compile_error(constraint)
    if reason is None:
        conn.send(None)
        return
    started = time.monotonic()
    pointer, keyword = ("", None) if document is None else failing_construct(
        document, compiles=lambda schema: _compile_error(schema) is None, deadline=started + locate_for)
    conn.send((pointer, keyword, reason))


def _compile_error(schema: Any) -> str | None:
    import xgrammar

    try:
        xgrammar.Grammar.from_json_schema(json.dumps(schema), **COMPILE_OPTIONS)
        return None
    except Exception as err:  # xgrammar raises RuntimeError/ValueError variants
        text = (str(err) or type(err).__name__).strip().splitlines()[0]
        return re.sub(r"^\[[^\]]*\]\s*\S+:\d+:\s*", "", text)  # drop the C++ location

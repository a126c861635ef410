"""Compile the decoding constraint before any engine starts, bounded in time."""

import json
import multiprocessing
import re

from jobs.spec.errors import JobSpecError


COMPILE_TIME_LIMIT_S = 30.0


def compile_constraint(schema: dict, time_limit: float = COMPILE_TIME_LIMIT_S) -> None:
    """Compile the decoding constraint the way the engine will (xgrammar, no free
    whitespace), in a child process so that a schema that makes the compiler run away
    ends in an error instead of a hang."""
    parent, child = multiprocessing.get_context("fork").Pipe(duplex=False)
    process = multiprocessing.get_context("fork").Process(target=_compile_in_child, args=(json.dumps(schema), child), daemon=True)
    process.start()
    child.close()
    if not parent.poll(time_limit):
        process.kill()
        raise JobSpecError(f"task.schema: the structured-output backend did not compile it within {time_limit:.0f} s; simplify the schema")
    error = parent.recv()
    process.join()
    if error:
        reason = re.sub(r"^\[[^\]]*\]\s*\S+:\d+:\s*", "", error.strip().splitlines()[0])  # drop the C++ location
        raise JobSpecError(f"task.schema: the structured-output backend (xgrammar) cannot compile it: {reason}")


def _compile_in_child(schema_json: str, conn) -> None:
    import xgrammar

    try:
        xgrammar.Grammar.from_json_schema(schema_json, any_whitespace=False)
        conn.send("")
    except Exception as err:  # xgrammar raises RuntimeError/ValueError variants
        conn.send(str(err) or type(err).__name__)

"""Ending a K2Engine that a test drives in its own process, on its own event loop."""

import asyncio


def shut_down(actor, loop: asyncio.AbstractEventLoop) -> None:
    """Shut the engine down inside `loop`, then close it. Called from outside a loop, vLLM
    leaves the closing of its ZMQ sockets to a callback on the engine's loop, which a
    stopped loop never runs: the ZMQ context's finalizer then blocks whichever later test
    the garbage collector happens to run in."""

    async def inside() -> None:
        actor.engine.shutdown()

    loop.run_until_complete(inside())
    loop.close()

"""The event loop the annotation client runs on.

``uvloop`` (libuv) when it is installed: the client spends most of its CPU in the event loop and
the HTTP transport, and on uvloop the same requests cost markedly less CPU than on asyncio's own
loop (see docs/worklog/annotate.md). ``BONEPICK_EVENT_LOOP=asyncio`` forces the standard loop,
``=uvloop`` requires uvloop.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from bonepick.errors import MissingDependencyError, UsageError

ENV = "BONEPICK_EVENT_LOOP"
CHOICES = ("auto", "uvloop", "asyncio")
T = TypeVar("T")


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """A factory for uvloop's loop, or None for asyncio's default."""
    choice = os.environ.get(ENV, "auto").strip().lower() or "auto"
    if choice not in CHOICES:
        raise UsageError(f"{ENV}={choice} is not one of {', '.join(CHOICES)}")
    if choice == "asyncio":
        return None
    try:
        import uvloop
    except ImportError:
        if choice == "uvloop":
            raise MissingDependencyError("uvloop", purpose=f"{ENV}=uvloop") from None
        return None
    return uvloop.new_event_loop


def loop_name() -> str:
    return "asyncio" if loop_factory() is None else "uvloop"


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run`` on the chosen loop."""
    try:
        factory = loop_factory()
    except BaseException:
        coroutine.close()
        raise
    if factory is None:
        return asyncio.run(coroutine)
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(coroutine)

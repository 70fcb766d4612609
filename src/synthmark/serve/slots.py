"""Blocking work in the service: at most ``concurrency`` jobs at once, each under a time limit.

Every route that decodes an image or asks the registry runs its work through one
:class:`Slots`, so ``POST /v1/screen`` and the Soft Binding Resolution API share the same
bound. A job that times out cannot be killed (it is a thread): its slot is freed only when it
ends, so the bound holds even for requests that gave up waiting.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


class Busy(Exception):
    """No slot came free within the time limit (answer 503)."""


class TimedOut(Exception):
    """The job ran past the time limit (answer 504)."""


class Slots:
    """A bounded pool of worker-thread slots with a per-job time limit."""

    def __init__(self, concurrency: int, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self._free = asyncio.Semaphore(concurrency)

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` in a worker thread, once a slot is free.

        Raises:
            Busy: no slot came free in time.
            TimedOut: the job did not finish in time (it goes on, holding its slot).
        """
        try:
            await asyncio.wait_for(self._free.acquire(), timeout=self.timeout_s)
        except asyncio.TimeoutError:
            raise Busy() from None
        job = asyncio.ensure_future(asyncio.to_thread(fn, *args))
        try:
            result = await asyncio.wait_for(asyncio.shield(job), timeout=self.timeout_s)
        except asyncio.TimeoutError:
            job.add_done_callback(lambda _: self._free.release())
            raise TimedOut() from None
        except BaseException:
            self._free.release()
            raise
        self._free.release()
        return result


__all__ = ["Busy", "Slots", "TimedOut"]

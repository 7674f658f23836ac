"""Many small database calls of a reconnect storm made as a few statements.

When thousands of chargers reconnect at once (after a gateway restart, ocpp-go #314), each
handshake checks a password and each accepted connection claims its row. One statement each
would queue thousands of coroutines on a pool of a few connections until the pool times out
(`pilecare bench ocpp --storm`: 394 of 2,000 chargers waited 30 s and failed). A `Batcher`
sends the calls that arrive while a statement is running together in the next statement, so
in a storm the batches grow and the statements stay few, and alone a call goes at once.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")


class Batcher(Generic[T, R]):
    """`await batcher(item)` → the result `run` gives for it.

    `run(items)` gets up to `max_size` items and returns one result per item, in order; an
    exception it raises is raised to every caller of that batch. At most `concurrency`
    batches run at a time.
    """

    def __init__(self, run: Callable[[list[T]], Awaitable[list[R]]], *, max_size: int = 500, concurrency: int = 2):
        self._run = run
        self._max_size = max_size
        self._concurrency = concurrency
        self._active = 0
        self._waiting: list[tuple[T, asyncio.Future]] = []
        self._tasks: set[asyncio.Task] = set()  # the loop keeps only weak references

    async def __call__(self, item: T) -> R:
        future = asyncio.get_running_loop().create_future()
        self._waiting.append((item, future))
        if self._active < self._concurrency:
            self._active += 1  # counted now, not when the task starts: a storm's tick starts no crowd
            task = asyncio.create_task(self._drain())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return await future

    async def _drain(self) -> None:
        try:
            while self._waiting:
                batch, self._waiting = self._waiting[:self._max_size], self._waiting[self._max_size:]
                try:
                    results = await self._run([item for item, _ in batch])
                except Exception as error:
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(error)
                    continue
                except BaseException:  # cancelled (the gateway stops): nobody may wait forever
                    for _, future in batch + self._waiting:
                        future.cancel()
                    raise
                for (_, future), result in zip(batch, results, strict=True):
                    if not future.done():
                        future.set_result(result)
        finally:
            self._active -= 1

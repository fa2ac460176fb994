"""Dynamic batching: requests that arrive together are embedded together.

Each model has one worker thread and a queue. The worker takes the oldest job and every
queued job with the same options (layers, pooling, ...) while their tokens fit under the
budget, embeds their texts in library calls of about ``chunk_texts`` texts each (jobs of
similar length together), and hands each job its own results as soon as its call ends. A
text's vectors do not depend on its batch mates (the embedder contract), so a request gets
what it would get alone.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

Run = Callable[[list[Any]], Sequence[Any]]  # texts -> one result per text


@dataclass
class Job:
    key: Hashable  # jobs merge only with equal keys: the same call with the same options
    texts: list[Any]
    tokens: int
    run: Run
    future: Future = field(default_factory=Future)


class Batcher:
    """One model's queue and worker. ``observe(texts, tokens)`` sees each merged call and
    ``depth(n)`` each change of the queue's length (the server's metrics).

    ``chunk_texts`` splits a merge into calls of about that many texts (see ``_chunks``).
    ``arriving()`` counts requests the server has admitted that are not yet in the queue:
    while there are some, the worker waits up to ``linger`` seconds for them to join the
    call. Without it, a worker that just finished a big call starts a small one with the
    first request back, and that call's threads hold the cores the others need to arrive.
    """

    def __init__(
        self,
        max_batch_tokens: int,
        name: str = "model",
        observe: Callable[[int, int], None] | None = None,
        depth: Callable[[int], None] | None = None,
        arriving: Callable[[], int] | None = None,
        linger: float = 0.1,
        chunk_texts: int | None = None,
    ):
        self.max_batch_tokens = max_batch_tokens
        self.chunk_texts = chunk_texts
        self.linger = linger
        self._arriving = arriving or (lambda: 0)
        self._queue: list[Job] = []
        self._cond = threading.Condition()
        self._closed = False
        self._observe = observe or (lambda texts, tokens: None)
        self._depth = depth or (lambda n: None)
        self._thread = threading.Thread(target=self._loop, name=f"batcher-{name}", daemon=True)
        self._thread.start()

    def submit(self, key: Hashable, texts: list[Any], tokens: int, run: Run) -> Future:
        job = Job(key, texts, tokens, run)
        with self._cond:
            if self._closed:
                raise RuntimeError("the batcher is closed")
            self._queue.append(job)
            self._depth(len(self._queue))
            self._cond.notify()
        return job.future

    @property
    def queued(self) -> int:
        with self._cond:
            return len(self._queue)

    def poke(self) -> None:
        """Wake a lingering worker: what it waits for may have changed."""
        with self._cond:
            self._cond.notify()

    def close(self) -> None:
        """Finish the queued jobs, then stop the worker."""
        with self._cond:
            self._closed = True
            self._cond.notify()
        self._thread.join()

    def _take(self) -> list[Job] | None:
        with self._cond:
            while not self._queue and not self._closed:
                self._cond.wait()
            if not self._queue:
                return None
            first = self._queue.pop(0)
            group, total = [first], first.tokens  # a job over the budget runs alone
            deadline = time.monotonic() + self.linger
            while True:
                for job in list(self._queue):
                    if job.key == first.key and total + job.tokens <= self.max_batch_tokens:
                        group.append(job)
                        total += job.tokens
                        self._queue.remove(job)
                left = deadline - time.monotonic()
                if left <= 0 or total >= self.max_batch_tokens or self._arriving() <= 0:
                    break
                self._cond.wait(left)  # woken by the next submit
            self._depth(len(self._queue))
        return group

    def _loop(self) -> None:
        while (group := self._take()) is not None:
            # a future cancelled before its call starts is skipped (uvicorn does not cancel
            # the request of a client that hung up: its texts are embedded and dropped)
            group = [j for j in group if j.future.set_running_or_notify_cancel()]
            if not group:
                continue
            for chunk in self._chunks(group):
                self._run(chunk)

    def _chunks(self, group: list[Job]) -> list[list[Job]]:
        """The merge in calls of about ``chunk_texts`` texts, jobs of similar length together
        (shortest first), so each forward pads little and each job is answered as soon as
        its call ends, not when the whole merge does. A job is never split."""
        if self.chunk_texts is None:
            return [group]
        jobs = sorted(group, key=lambda j: j.tokens / max(len(j.texts), 1))
        chunks: list[list[Job]] = [[]]
        for job in jobs:
            if (
                chunks[-1]
                and sum(len(j.texts) for j in chunks[-1]) + len(job.texts) > self.chunk_texts
            ):
                chunks.append([])
            chunks[-1].append(job)
        return chunks

    def _run(self, group: list[Job]) -> None:
        texts = [t for job in group for t in job.texts]
        self._observe(len(texts), sum(j.tokens for j in group))
        try:
            results = group[0].run(texts)
        except Exception as e:
            if len(group) == 1:
                group[0].future.set_exception(e)
                return
            # one request's texts broke the call: run each alone, so only that one fails
            for job in group:
                self._run([job])
            return
        at = 0
        for job in group:
            job.future.set_result(list(results[at : at + len(job.texts)]))
            at += len(job.texts)

"""A small process pool for long jobs: each task runs in its own spawned process, ``jobs`` at a time.

It knows nothing about training: it receives the tasks and the worker function, and reads how each
worker ended from its exit code (:data:`EXIT_DONE`, :data:`EXIT_ERROR`, :data:`EXIT_STOPPED`). On a small CPU
one run does not use two cores well, so running seeds side by side shortens a reproduction
(``infogan reproduce --jobs N``; measured in docs/reproduce.md).

Stopping: SIGINT or SIGTERM to the parent (Ctrl-C reaches the workers too) starts no new task and sends
SIGTERM to every running worker, which is expected to stop gracefully and exit with :data:`EXIT_STOPPED`. A
worker that fails prints its own one-line error; the parent waits for the others and then raises
:class:`~infogan.errors.TrainingError` naming the failed tasks.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from collections.abc import Callable, Sequence
from multiprocessing.connection import wait
from typing import Any

from infogan.errors import TrainingError

EXIT_DONE, EXIT_ERROR, EXIT_STOPPED = 0, 2, 3


def default_threads(jobs: int) -> int:
    """Torch threads per worker: the machine's cores shared out, at least one."""
    return max(1, (os.cpu_count() or 1) // jobs)


def run_in_processes(tasks: Sequence[tuple[str, tuple]], worker: Callable[..., Any], *, jobs: int,
                     echo: Callable[[str], None] = print, what: str = "task") -> bool:
    """Run ``worker(*args)`` for every ``(name, args)`` task, each in a spawned process, ``jobs`` at once.

    Args:
        tasks: ``(name, args)`` pairs in the order to start them; ``worker`` and ``args`` must be picklable.
        worker: a module-level function; it signals how it ended with ``sys.exit(EXIT_DONE | EXIT_ERROR |
            EXIT_STOPPED)`` and should ignore SIGINT (the parent relays Ctrl-C as SIGTERM, once).
        jobs: how many tasks run at once (>= 1).
        echo: the parent's status lines (the workers print their own).
        what: the word for a task in messages ("run").
    Returns:
        True when every task finished; False when a stop was requested.
    Raises:
        TrainingError: a worker failed; the others were let finish first.
    """
    ctx = multiprocessing.get_context("spawn")  # no fork of a process that holds torch's thread pools
    pending = list(tasks)
    active: dict = {}  # sentinel -> (process, position, name)
    failed: list[tuple[int, str]] = []  # (position in the task list, message)
    stopped = [False]

    def request_stop(*_):
        stopped[0] = True
        for proc, _pos, _name in active.values():
            if proc.is_alive():
                proc.terminate()  # SIGTERM: the worker stops gracefully

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    position = 0
    try:
        while active or (pending and not stopped[0] and not failed):
            while pending and len(active) < jobs and not stopped[0] and not failed:
                name, args = pending.pop(0)
                proc = ctx.Process(target=worker, args=args, name=f"infogan-{name}")
                proc.start()
                active[proc.sentinel] = (proc, position, name)
                position += 1
            for sentinel in wait(list(active)):
                proc, pos, name = active.pop(sentinel)
                proc.join()
                if proc.exitcode == EXIT_STOPPED or (stopped[0] and proc.exitcode != EXIT_DONE):
                    stopped[0] = True
                elif proc.exitcode != EXIT_DONE:
                    failed.append((pos, f"{name} (exit code {proc.exitcode})"))
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if failed:
        raise TrainingError(f"training failed for {', '.join(m for _, m in sorted(failed))}: see its message "
                            f"above; the other {what}s are kept, and the same command continues them")
    return not stopped[0]

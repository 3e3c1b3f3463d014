"""Run one report step in a forked process while the report computes the others.

The funnel trends of the report need only the journeys and the delay families chosen by the
stage conversion; the value steps need only the fitted model. On a machine with two or more
cores they can run side by side: the trends in a forked copy of this process, which inherits
the journeys without pickling them, and sends its result back pickled. Where ``fork`` is
not available (Windows) the report runs every step here.
"""

from __future__ import annotations

import multiprocessing
import os
import traceback
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any, Generic, TypeVar

from funnelkit.exceptions import FunnelkitError

__all__ = ["Background", "can_fork", "usable_cores"]

T = TypeVar("T")


def can_fork() -> bool:
    """Whether this platform starts processes by forking."""
    return "fork" in multiprocessing.get_all_start_methods()


def usable_cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        return os.cpu_count() or 1


def _child(fn: Callable[[], Any], send: Connection) -> None:
    try:
        payload: tuple[bool, Any] = (True, fn())
    except BaseException as exc:
        payload = (False, exc)
    try:
        send.send(payload)
    except Exception:
        ok, value = payload
        why = "its result" if ok else "".join(traceback.format_exception(value))
        send.send((False, FunnelkitError(f"A report step could not send back {why}")))
    finally:
        send.close()


class Background(Generic[T]):
    """``fn()`` running in a forked process; :meth:`result` waits for it.

    An exception raised by ``fn`` is raised again by :meth:`result`, with its own type.
    """

    def __init__(self, fn: Callable[[], T]) -> None:
        context = multiprocessing.get_context("fork")
        self._receive, send = context.Pipe(duplex=False)
        # fork copies fn and what it refers to: nothing is pickled on the way in
        self._process = context.Process(target=_child, args=(fn, send), daemon=True)
        self._process.start()
        send.close()

    def result(self) -> T:
        """The value of ``fn()`` (read before the process is joined: a large result fills
        the pipe, and the process ends only once it has been read)."""
        try:
            ok, value = self._receive.recv()
        except EOFError:
            self._process.join()
            raise FunnelkitError(
                f"A report step ended without a result (exit code {self._process.exitcode}): "
                "it was probably killed for lack of memory. Run the report with n_jobs=1."
            ) from None
        finally:
            self._receive.close()
        self._process.join()
        if not ok:
            raise value
        result: T = value
        return result

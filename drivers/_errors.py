"""Unwrapping task-group exception groups so callers can catch errors by type."""

from __future__ import annotations

import anyio


def single_error(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The one real error inside nested task-group wrappers (cancellations ignored),
    or the group itself when there is not exactly one."""
    leaves: list[BaseException] = []
    stack: list[BaseException] = [group]
    while stack:
        exc = stack.pop()
        if isinstance(exc, BaseExceptionGroup):
            stack.extend(exc.exceptions)
        else:
            leaves.append(exc)
    real = [e for e in leaves if not isinstance(e, anyio.get_cancelled_exc_class())]
    return real[0] if len(real) == 1 else group

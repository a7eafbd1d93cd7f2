"""DTMF digits to the model as user messages, buffered so no response request collides.

A ``response.create`` sent while a response is still going is an error at OpenAI
(``conversation_already_has_active_response``). So the bridge does not ask per digit:
:class:`DtmfText` collects the digits and sends them as one user message, "The caller
pressed 7319." (with one response request), once

* the caller paused: ``pause`` seconds passed with no new digit, or the last digit is
  ``#`` (the keypad's "done" key), and
* no response is going: none was reported created and not yet done, and none that we
  asked for is still to be reported (for at most ``REQUEST_GRACE`` seconds: a provider
  that never reports its responses does not hold the digits forever).

Digits pressed while a response plays wait for its end. The digits may be a PIN: they
are never logged.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import anyio

from adk_realtime.sansio import events as ev
from adk_realtime.sansio.errors import ConnectionClosed

__all__ = ["DtmfText", "dtmf_message"]

END_KEY = "#"
"""A digit that ends the entry: the buffer is sent without waiting for the pause."""

REQUEST_GRACE = 1.0
"""Seconds a response we asked for counts as going before the provider reports it."""


def dtmf_message(digits: str) -> str:
    """The user message for the keys pressed, in order."""
    return f"The caller pressed {digits}."


class DtmfText:
    """Buffers DTMF digits and sends them to the model as one user message (see the module
    docstring). The bridge calls :meth:`add` per digit and :meth:`observe` with every
    provider event the runner handles, and runs :meth:`run` in the call's task group.
    ``send(text)`` sends a user message and asks for a response."""

    def __init__(self, send: Callable[[str], Awaitable[None]], pause: float) -> None:
        self._send = send
        self._pause = pause
        self._digits: list[str] = []
        self._last_digit_at = 0.0
        self._responding = False  # a response was reported created, not yet done
        self._requested_until = 0.0  # we asked for one: going until reported, or then
        self._changed = anyio.Event()

    def __repr__(self) -> str:
        return f"DtmfText(pending={len(self._digits)}, responding={self._responding})"

    def add(self, digit: str) -> None:
        """A digit the caller pressed."""
        self._digits.append(digit)
        self._last_digit_at = anyio.current_time()
        self._wake()

    def observe(self, event: object) -> None:
        """A provider event the runner handled: tracks whether a response is going."""
        if isinstance(event, ev.ResponseCreated):
            self._responding, self._requested_until = True, 0.0
        elif isinstance(event, ev.ResponseDone):
            self._responding = False
        elif isinstance(event, ev.Error):
            self._requested_until = 0.0  # our request failed: it will not be created
        else:
            return
        self._wake()

    async def run(self) -> None:
        """Send the buffered digits whenever the rules allow, until the model is gone."""
        while True:
            changed = self._changed
            if self._digits and not self._responding:
                ended = self._digits[-1] == END_KEY
                due = max(
                    self._requested_until, 0.0 if ended else self._last_digit_at + self._pause
                )
                if anyio.current_time() >= due:
                    if not await self._flush():
                        return
                    continue
                with anyio.move_on_after(due - anyio.current_time()):
                    await changed.wait()
            else:
                await changed.wait()

    async def _flush(self) -> bool:
        text = dtmf_message("".join(self._digits))
        self._digits.clear()
        self._requested_until = anyio.current_time() + REQUEST_GRACE
        try:
            await self._send(text)
        except ConnectionClosed:
            return False  # the model session ended: nothing more to tell it
        return True

    def _wake(self) -> None:
        self._changed.set()
        self._changed = anyio.Event()

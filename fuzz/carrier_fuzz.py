"""What the three carrier media-stream harnesses share (``fuzz_twilio``, ``fuzz_telnyx``,
``fuzz_plivo``); not a harness itself.

Each input drives two long-lived machines of one carrier: one that has seen a valid
``start`` (so mark echoes, commands and the accounting are exercised) and one that
has not. An input with an odd first byte goes in raw (the JSON layer); otherwise it
picks a valid template message of a known event and mutates it (replaces, deletes or
adds fields, nested ones too, with values drawn from the input, including the names
of marks the machine really placed), and between messages it runs commands
(``send_audio``, ``flush``, ``send_mark``, ``clear``, ``begin_response``).

Checked: ``receive_data`` raises nothing but ``ProtocolError`` and queues no event
when it raises; commands raise nothing but ``ProtocolError``; ``heard_ms`` never
goes back and never passes ``sent_ms``; the mark lists stay bounded.
"""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Callable
from typing import Any

import atheris

from adk_realtime.sansio.errors import ProtocolError
from adk_realtime.sansio.telephony.media_stream import CarrierMediaStream

MAX_PENDING = 16
Msg = dict[str, Any]


class CarrierHarness:
    """One carrier's harness: its machine class, its valid templates and field names."""

    def __init__(
        self,
        factory: Callable[..., CarrierMediaStream],
        templates: dict[str, Msg],
        fields: list[str],
        mark_event: str,
    ) -> None:
        self.factory = factory
        self.templates = templates
        self.events = [*sorted(templates), "unknown", ""]
        self.fields = fields
        self.mark_event = mark_event
        self.live = self._fresh(started=True)
        self.fresh = self._fresh(started=False)
        self.heard = {id(self.live): 0, id(self.fresh): 0}
        self.placed: list[str] = []

    def _fresh(self, started: bool) -> CarrierMediaStream:
        stream = self.factory(mark_every_frames=2, max_pending_marks=MAX_PENDING)
        if started:
            stream.receive_data(json.dumps(self.templates["start"]), 0.0)
            while stream.next_event() is not None:
                pass
        return stream

    # -- inputs ---------------------------------------------------------------

    def _value(self, fdp: atheris.FuzzedDataProvider, depth: int) -> Any:
        kind = fdp.ConsumeIntInRange(0, 11)
        if kind == 0:
            return None
        if kind == 1:
            return fdp.ConsumeBool()
        if kind == 2:
            return fdp.ConsumeIntInRange(-(2**40), 2**40)
        if kind == 3:
            return fdp.ConsumeRegularFloat()
        if kind == 4:
            return base64.b64encode(fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 400))).decode()
        if kind == 5:
            return str(fdp.ConsumeIntInRange(0, 2**31))
        if kind == 6 and self.placed:
            return fdp.PickValueInList(self.placed)
        if kind == 7:
            return fdp.PickValueInList(["1", "#", "*", "D", "x", "10", "", "inbound", "PCMU"])
        if kind in (8, 9) and depth < 3:
            return {
                fdp.PickValueInList(self.fields): self._value(fdp, depth + 1)
                for _ in range(fdp.ConsumeIntInRange(0, 4))
            }
        if kind == 10 and depth < 3:
            return [self._value(fdp, depth + 1) for _ in range(fdp.ConsumeIntInRange(0, 3))]
        return fdp.ConsumeUnicodeNoSurrogates(fdp.ConsumeIntInRange(0, 12))

    def _mutate(self, fdp: atheris.FuzzedDataProvider, obj: Msg, depth: int) -> None:
        for _ in range(fdp.ConsumeIntInRange(0, 3)):
            action = fdp.ConsumeIntInRange(0, 3)
            keys = list(obj)
            if action == 0 and keys:
                obj[fdp.PickValueInList(keys)] = self._value(fdp, depth)
            elif action == 1 and keys:
                del obj[fdp.PickValueInList(keys)]
            elif action == 2:
                obj[fdp.PickValueInList(self.fields)] = self._value(fdp, depth)
            elif keys:
                inner = obj[fdp.PickValueInList(keys)]
                if isinstance(inner, dict) and depth < 3:
                    self._mutate(fdp, inner, depth + 1)

    def message(self, fdp: atheris.FuzzedDataProvider) -> bytes:
        event = fdp.PickValueInList(self.events)
        if event == self.mark_event and self.placed and fdp.ConsumeBool():
            name = fdp.PickValueInList(self.placed)
            template = copy.deepcopy(self.templates[event])
            if "mark" in template:
                template["mark"]["name"] = name
            else:
                template["name"] = name
            return json.dumps(template).encode()
        template = copy.deepcopy(self.templates.get(event, {"event": event}))
        if fdp.ConsumeBool():
            self._mutate(fdp, template, 0)
        return json.dumps(template).encode()

    # -- one input -------------------------------------------------------------

    def command(self, fdp: atheris.FuzzedDataProvider, stream: CarrierMediaStream) -> None:
        kind = fdp.ConsumeIntInRange(0, 5)
        try:
            if kind == 0:
                stream.send_audio(fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 900)))
            elif kind == 1:
                stream.flush()
            elif kind == 2:
                stream.send_mark(fdp.ConsumeUnicodeNoSurrogates(8))
            elif kind == 3:
                stream.clear()
            elif kind == 4:
                stream.begin_response(fdp.ConsumeUnicodeNoSurrogates(4))
        except ProtocolError:
            pass
        for text in stream.data_to_send():
            msg = json.loads(text)
            name = msg.get("name") or msg.get("mark", {}).get("name")
            if isinstance(name, str):
                self.placed = [*self.placed[-31:], name]

    def feed(self, stream: CarrierMediaStream, message: bytes) -> None:
        try:
            stream.receive_data(message, 0.0)
        except ProtocolError:
            assert stream.next_event() is None, "a refused message queued an event"
        while stream.next_event() is not None:
            pass
        assert stream.heard_ms >= self.heard[id(stream)], "heard_ms went back"
        assert stream.heard_ms <= stream.sent_ms, "heard_ms passed sent_ms"
        assert stream.pending_marks <= MAX_PENDING
        self.heard[id(stream)] = stream.heard_ms

    def run(self, data: bytes) -> None:
        if not data:
            return
        if data[0] & 1:
            for stream in (self.live, self.fresh):
                self.feed(stream, data[1:])
            return
        fdp = atheris.FuzzedDataProvider(data[1:])
        for _ in range(fdp.ConsumeIntInRange(1, 4)):
            self.command(fdp, self.live)
            message = self.message(fdp)
            self.feed(self.live, message)
            self.feed(self.fresh, message)
        if self.fresh.started is not None:  # a start got through: begin again next time
            self.fresh = self._fresh(started=False)
            self.heard[id(self.fresh)] = 0

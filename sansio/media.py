"""Images and video frames sent to a model: checks and the video frame-rate policy.

Helpers of the provider protocols (``send_image``, ``send_video_frame``), not
machines of their own. :func:`check_image` refuses, with a
:class:`~adk_realtime.sansio.errors.LocalProtocolError` saying why, an image a
provider cannot take: empty, a MIME type it does not list, or bytes that are not
that type (a PNG labelled JPEG). Size is the provider's message limit
(``MessageTooLargeToSend`` from the protocol).

Video policy (:class:`FrameRateLimiter`): at most ``max_fps`` frames per second
(1 by default, what Gemini Live samples video at). A frame that comes sooner is
held, replacing any frame held before it (the replaced one counts as dropped):
at most one frame ever waits, so a fast camera never builds a queue. The held
frame goes out when its time comes (``handle_timer``), unless a newer one
arriving after that time replaces it first.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Collection
from typing import Generic, TypeVar

from adk_realtime.sansio.errors import ConfigError, LocalProtocolError

__all__ = [
    "DEFAULT_MAX_VIDEO_FPS",
    "GEMINI_IMAGE_TYPES",
    "OPENAI_IMAGE_TYPES",
    "FrameRateLimiter",
    "check_image",
    "data_url",
]

OPENAI_IMAGE_TYPES = ("image/jpeg", "image/png")
"""What OpenAI Realtime's ``input_image`` takes ("Supported formats are PNG and JPEG")."""

GEMINI_IMAGE_TYPES = ("image/jpeg", "image/png", "image/webp", "image/heic", "image/heif")
"""What Gemini takes as inline image data."""

DEFAULT_MAX_VIDEO_FPS = 1.0

# Leading bytes of the formats we can recognise; HEIC/HEIF are taken as labelled.
_SIGNATURES = {"image/jpeg": b"\xff\xd8\xff", "image/png": b"\x89PNG\r\n\x1a\n"}

_T = TypeVar("_T")


def check_image(data: object, mime_type: object, accepted: Collection[str], who: str) -> bytes:
    """``data`` as bytes, if ``who`` can take it as ``mime_type``; else ``LocalProtocolError``."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise LocalProtocolError(f"image data must be bytes, got {type(data).__name__}")
    image = bytes(data)
    if not image:
        raise LocalProtocolError("image data is empty")
    if not isinstance(mime_type, str) or mime_type.lower() not in accepted:
        raise LocalProtocolError(
            f"{who} takes images as {', '.join(accepted)}; got mime_type {mime_type!r}"
        )
    mime = mime_type.lower()
    if mime == "image/webp":
        if image[:4] != b"RIFF" or image[8:12] != b"WEBP":
            raise LocalProtocolError("image data is not WebP (no RIFF....WEBP header)")
    elif mime in _SIGNATURES and not image.startswith(_SIGNATURES[mime]):
        raise LocalProtocolError(f"image data does not start like {mime} (wrong mime_type?)")
    return image


def data_url(image: bytes, mime_type: str) -> str:
    """``data:<mime>;base64,<standard base64>``, as OpenAI's ``image_url`` takes it."""
    return f"data:{mime_type.lower()};base64,{base64.b64encode(image).decode('ascii')}"


class FrameRateLimiter(Generic[_T]):
    """At most ``max_fps`` frames per second; a frame too soon waits, replacing the
    one waiting before it (see the module docstring). Frames are opaque (``_T``)."""

    def __init__(self, max_fps: float = DEFAULT_MAX_VIDEO_FPS) -> None:
        if (
            not isinstance(max_fps, int | float)
            or isinstance(max_fps, bool)
            or not math.isfinite(max_fps)
            or not 0 < max_fps <= 60
        ):
            raise ConfigError("max_video_fps", f"must be within (0, 60] frames/s, got {max_fps!r}")
        self.interval = 1.0 / max_fps
        self._next: float | None = None  # when the next frame may go
        self._held: _T | None = None
        self.sent = 0
        self.dropped = 0

    def offer(self, frame: _T, now: float) -> _T | None:
        """The frame to send now (``frame``), or ``None``: it waits for :meth:`due`."""
        if self._held is not None:
            self.dropped += 1  # replaced by a newer frame
            self._held = None
        if self._next is None or now >= self._next:
            return self._release(frame, now)
        self._held = frame
        return None

    @property
    def due(self) -> float | None:
        """When the waiting frame may go (call :meth:`take_due` then), or ``None``."""
        return self._next if self._held is not None else None

    def take_due(self, now: float) -> _T | None:
        """The waiting frame if its time has come, else ``None``."""
        if self._held is None or self._next is None or now < self._next:
            return None
        frame, self._held = self._held, None
        return self._release(frame, now)

    def _release(self, frame: _T, now: float) -> _T:
        self._next = now + self.interval
        self.sent += 1
        return frame

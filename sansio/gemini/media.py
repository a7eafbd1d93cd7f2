"""Gemini Live image and video input: the commands :class:`GeminiProtocol` mixes in.

* ``send_image``: a ``clientContent`` user turn holding the image as ``inlineData``,
  left open (``turnComplete: false``): the image joins the context, and the model
  answers with the user's next turn (speech, a user text, or ``ResponseCreate``,
  which closes the turn).
* ``send_video_frame``: ``realtimeInput.video``, one JPEG/PNG frame per message,
  at most ``max_video_fps`` per second (:class:`~adk_realtime.sansio.media.FrameRateLimiter`:
  a frame too soon waits, replacing the one waiting; ``GeminiProtocol.handle_timer``
  sends it when due; replaced frames are counted in ``video_frames_dropped``).

Images and frames are not kept in ``history`` (a new conversation seeded from it
has only the text).
"""

from __future__ import annotations

import base64

from adk_realtime.sansio.gemini.wire import MAX_MESSAGE_SIZE
from adk_realtime.sansio.json_fields import check_size, dumps
from adk_realtime.sansio.media import GEMINI_IMAGE_TYPES, FrameRateLimiter, check_image

__all__ = ["VIDEO_FRAME_TYPES", "GeminiMediaCommands"]

VIDEO_FRAME_TYPES = ("image/jpeg", "image/png")


def _blob(image: bytes, mime_type: str) -> dict[str, str]:
    return {"data": base64.b64encode(image).decode("ascii"), "mimeType": mime_type.lower()}


class GeminiMediaCommands:
    """Mixed into ``GeminiProtocol``, which owns these attributes."""

    _out: list[str]
    _client_turn_open: bool
    _video: FrameRateLimiter[str]

    def send_image(self, data: bytes | bytearray | memoryview, mime_type: str) -> None:
        """Queue a ``clientContent`` user turn holding the image (left open: the model sees
        it with the user's next turn; ``ResponseCreate`` asks for an answer now).

        ``mime_type``: one of :data:`~adk_realtime.sansio.media.GEMINI_IMAGE_TYPES`.
        Raises ``LocalProtocolError`` (queuing nothing) for an empty image, another
        type or bytes that are not that type; ``MessageTooLargeToSend`` over the limit.
        """
        image = check_image(data, mime_type, GEMINI_IMAGE_TYPES, "Gemini Live")
        turn = {"role": "user", "parts": [{"inlineData": _blob(image, mime_type)}]}
        message = dumps({"clientContent": {"turns": [turn], "turnComplete": False}})
        self._out.append(check_size(message, MAX_MESSAGE_SIZE, "the image"))
        self._client_turn_open = True

    def send_video_frame(
        self, data: bytes | bytearray | memoryview, mime_type: str, now: float
    ) -> None:
        """Queue ``realtimeInput.video`` with one frame (JPEG or PNG), rate-limited: within
        ``1 / max_video_fps`` of the last frame sent it waits instead (replacing one
        waiting); then call :meth:`handle_timer` at :meth:`get_timer`. Same errors as
        :meth:`send_image`."""
        image = check_image(data, mime_type, VIDEO_FRAME_TYPES, "Gemini Live video")
        message = dumps({"realtimeInput": {"video": _blob(image, mime_type)}})
        frame = self._video.offer(check_size(message, MAX_MESSAGE_SIZE, "the frame"), now)
        if frame is not None:
            self._out.append(frame)

    @property
    def video_frames_sent(self) -> int:
        """Video frames queued so far."""
        return self._video.sent

    @property
    def video_frames_dropped(self) -> int:
        """Video frames replaced by a newer one before their turn came (the frame-rate policy)."""
        return self._video.dropped

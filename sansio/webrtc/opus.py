"""Opus encoder and decoder (RFC 6716) for 20 ms WebRTC audio, on libopus via opuslib.

Theory of operation
-------------------
opuslib loads the system libopus; its high-level classes allocate a new
buffer for every frame, so we take fresh function pointers from the library
opuslib loaded and call libopus with our own argument types: the 20 ms path
then encodes from and decodes into caller-owned NumPy arrays and
``bytearray`` s with nothing allocated but the call's own small temporaries.

Mono and stereo: the Opus RTP payload is always signalled ``opus/48000/2``
(RFC 7587) but a sender may send mono, and peers such as aiortc send stereo.
A decoder created with ``channels=1`` decodes stereo packets to their mono
downmix (libopus does it, bit-for-bit the same as decoding to stereo and
averaging the channels, and cheaper), so callers that want mono need nothing
else.

Loss: :meth:`OpusDecoder.conceal` runs packet-loss concealment for one frame;
:meth:`OpusDecoder.decode_fec` rebuilds a lost frame from the in-band FEC of
the packet that followed it (the encoder sends FEC; see ``fec=``).

If libopus is missing, constructing either class raises
:class:`OpusUnavailable` saying how to install it. The library handle is
loaded once per process (a cache, not state). Codecs, not sans-IO machines:
each call returns its result.
"""

from __future__ import annotations

import ctypes
import functools
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from adk_realtime.sansio.errors import ProtocolError, RealtimeError
from adk_realtime.sansio.webrtc._checks import require

__all__ = ["MAX_FRAME_SAMPLES", "OpusDecodeError", "OpusDecoder", "OpusEncoder", "OpusUnavailable"]

#: Longest Opus packet duration (120 ms) in samples per channel at 48 kHz.
MAX_FRAME_SAMPLES = 5760
MAX_PACKET_BYTES = 1275 * 3 + 7  # RFC 6716 §3.4 bound for one packet (R5)
_SAMPLE_RATES = (8000, 12000, 16000, 24000, 48000)
_APPLICATIONS = {"voip": 2048, "audio": 2049, "restricted_lowdelay": 2051}
_SET_BITRATE = 4002
_SET_INBAND_FEC = 4012
_SET_PACKET_LOSS_PERC = 4014
_GET_LAST_PACKET_DURATION = 4039
INSTALL_HINT = (
    "libopus not found: install it with `apt-get install libopus0` (Debian/Ubuntu) "
    "or `brew install opus` (macOS)"
)


class OpusUnavailable(RealtimeError, RuntimeError):
    """libopus (or opuslib) is not installed; the message says how to install it."""


class OpusDecodeError(ProtocolError):
    """An Opus packet could not be decoded; conceal the frame instead."""


@dataclass(frozen=True)
class _Lib:
    encoder_create: Any
    encoder_destroy: Any
    encoder_ctl: Any
    encode: Any
    decoder_create: Any
    decoder_destroy: Any
    decoder_ctl: Any
    decode: Any
    strerror: Any


@functools.cache
def _load() -> _Lib:
    try:
        import opuslib.api

        lib = opuslib.api.libopus
        # Fresh function objects (getitem), so our argtypes never touch opuslib's.
        fns = {name: lib[name] for name in (
            "opus_encoder_create", "opus_encoder_destroy", "opus_encoder_ctl", "opus_encode",
            "opus_decoder_create", "opus_decoder_destroy", "opus_decoder_ctl", "opus_decode",
            "opus_strerror",
        )}  # fmt: skip
    except Exception as exc:
        raise OpusUnavailable(INSTALL_HINT) from exc
    c_int, c_void_p, c_int32 = ctypes.c_int, ctypes.c_void_p, ctypes.c_int32
    int_p = ctypes.POINTER(ctypes.c_int)
    for create in ("opus_encoder_create", "opus_decoder_create"):
        fns[create].restype = c_void_p
    fns["opus_encoder_create"].argtypes = (c_int, c_int, c_int, int_p)
    fns["opus_decoder_create"].argtypes = (c_int, c_int, int_p)
    fns["opus_encoder_destroy"].argtypes = fns["opus_decoder_destroy"].argtypes = (c_void_p,)
    fns["opus_encoder_destroy"].restype = fns["opus_decoder_destroy"].restype = None
    fns["opus_encoder_ctl"].restype = fns["opus_decoder_ctl"].restype = c_int  # variadic
    fns["opus_encode"].argtypes = (c_void_p, c_void_p, c_int, c_void_p, c_int32)
    fns["opus_encode"].restype = c_int32
    fns["opus_decode"].argtypes = (c_void_p, c_void_p, c_int32, c_void_p, c_int, c_int)
    fns["opus_decode"].restype = c_int
    fns["opus_strerror"].argtypes = (c_int,)
    fns["opus_strerror"].restype = ctypes.c_char_p
    return _Lib(*(fns[f"opus_{n}"] for n in (
        "encoder_create", "encoder_destroy", "encoder_ctl", "encode",
        "decoder_create", "decoder_destroy", "decoder_ctl", "decode", "strerror",
    )))  # fmt: skip


def _strerror(lib: _Lib, code: int) -> str:
    text = lib.strerror(code)
    return text.decode(errors="replace") if text else f"error {code}"


def _check_rate_channels(sample_rate: int, channels: int) -> None:
    require("sample_rate", sample_rate in _SAMPLE_RATES, f"one of {_SAMPLE_RATES}", sample_rate)
    require("channels", channels in (1, 2), "1 or 2", channels)


class _BufferAddress:
    """Remember the address of the last buffer seen, so a reused buffer costs nothing."""

    __slots__ = ("_address", "_obj", "_view")

    def __init__(self) -> None:
        self._obj: object = None
        self._view: object = None
        self._address = 0

    def of_array(self, array: npt.NDArray[np.int16]) -> int:
        if array is not self._obj:
            if array.dtype != np.int16 or not array.flags.c_contiguous:
                raise ValueError("PCM must be a C-contiguous int16 array")
            self._obj, self._address = array, int(array.ctypes.data)
        return self._address

    def of_bytearray(self, buf: bytearray) -> int:
        if buf is not self._obj:
            view = (ctypes.c_char * len(buf)).from_buffer(buf)  # locks buf's size while cached
            self._obj, self._view, self._address = buf, view, ctypes.addressof(view)
        return self._address


class OpusEncoder:
    """Encode PCM16 frames to Opus packets.

    ``frame_size`` is samples per channel per packet (default 20 ms:
    ``sample_rate // 50``, 960 at 48 kHz). ``fec`` turns on in-band forward
    error correction, tuned for ``expected_loss`` percent loss. ``bitrate``
    in bit/s, ``None`` for libopus' automatic choice.
    """

    def __init__(
        self,
        sample_rate: int = 48000,
        channels: Literal[1, 2] = 1,
        application: Literal["voip", "audio", "restricted_lowdelay"] = "voip",
        *,
        frame_size: int | None = None,
        bitrate: int | None = None,
        fec: bool = True,
        expected_loss: int = 5,
    ) -> None:
        _check_rate_channels(sample_rate, channels)
        require(
            "application",
            application in _APPLICATIONS,
            f"one of {sorted(_APPLICATIONS)}",
            application,
        )
        require("expected_loss", 0 <= expected_loss <= 100, "0-100 (%)", expected_loss)
        require("bitrate", bitrate is None or bitrate > 0, "None or a positive bit/s", bitrate)
        self._lib = lib = _load()
        self.sample_rate = sample_rate
        self.channels = channels
        self.frame_size = frame_size if frame_size is not None else sample_rate // 50
        durations = (sample_rate * k for k in (1, 2, 4, 8, 16, 24))
        require(
            "frame_size",
            self.frame_size * 400 in durations,
            "2.5, 5, 10, 20, 40 or 60 ms of samples",
            self.frame_size,
        )
        err = ctypes.c_int()
        self._state: int | None = lib.encoder_create(
            sample_rate, channels, _APPLICATIONS[application], ctypes.byref(err)
        )
        if err.value != 0 or not self._state:
            raise OpusUnavailable(f"opus_encoder_create failed: {_strerror(lib, err.value)}")
        handle = ctypes.c_void_p(self._state)
        if bitrate is not None:
            lib.encoder_ctl(handle, ctypes.c_int(_SET_BITRATE), ctypes.c_int(bitrate))
        lib.encoder_ctl(handle, ctypes.c_int(_SET_INBAND_FEC), ctypes.c_int(int(fec)))
        lib.encoder_ctl(handle, ctypes.c_int(_SET_PACKET_LOSS_PERC), ctypes.c_int(expected_loss))
        self._pcm = _BufferAddress()
        self._out = _BufferAddress()

    def encode(self, pcm: bytes) -> bytes:
        """Encode one frame of interleaved PCM16 (``frame_size * channels * 2`` bytes)."""
        want = self.frame_size * self.channels * 2
        if len(pcm) != want:
            raise ValueError(f"an Opus frame here is {want} bytes of PCM16, got {len(pcm)}")
        out = ctypes.create_string_buffer(MAX_PACKET_BYTES)
        n = self._lib.encode(self._state, bytes(pcm), self.frame_size, out, MAX_PACKET_BYTES)
        if n < 0:
            raise ValueError(f"opus_encode failed: {_strerror(self._lib, n)}")
        return out.raw[:n]

    def encode_into(self, pcm: npt.NDArray[np.int16], out: bytearray, offset: int = 0) -> int:
        """Encode the first ``frame_size * channels`` samples of ``pcm`` into ``out[offset:]``.

        Returns the packet length. Pass the same array and ``bytearray``
        every time: their addresses are cached (``out`` cannot be resized
        while cached).
        """
        if pcm.shape[0] < self.frame_size * self.channels:
            raise ValueError("pcm holds less than one frame")
        room = len(out) - offset
        if room < 1 or offset < 0:
            raise ValueError("no room in the output buffer")
        n = self._lib.encode(
            self._state,
            self._pcm.of_array(pcm),
            self.frame_size,
            self._out.of_bytearray(out) + offset,
            min(room, MAX_PACKET_BYTES),
        )
        if n < 0:
            raise ValueError(f"opus_encode failed: {_strerror(self._lib, n)}")
        return int(n)

    def __del__(self) -> None:
        state = getattr(self, "_state", None)
        if state:
            self._lib.encoder_destroy(state)
            self._state = None


class OpusDecoder:
    """Decode Opus packets to PCM16 at ``sample_rate`` with ``channels`` (1 = mono downmix).

    Each call returns or writes samples per channel; keep one decoder per
    stream (it carries the state PLC and FEC need).
    """

    def __init__(self, sample_rate: int = 48000, channels: Literal[1, 2] = 1) -> None:
        _check_rate_channels(sample_rate, channels)
        self._lib = lib = _load()
        self.sample_rate = sample_rate
        self.channels = channels
        err = ctypes.c_int()
        self._state: int | None = lib.decoder_create(sample_rate, channels, ctypes.byref(err))
        if err.value != 0 or not self._state:
            raise OpusUnavailable(f"opus_decoder_create failed: {_strerror(lib, err.value)}")
        self._max = MAX_FRAME_SAMPLES * sample_rate // 48000
        self._scratch = np.zeros(self._max * channels, dtype=np.int16)
        self._out = _BufferAddress()
        #: samples per channel of the last decoded frame (the size PLC conceals).
        self.last_frame_samples = sample_rate // 50

    def decode_into(
        self,
        payload: bytes | None,
        out: npt.NDArray[np.int16],
        *,
        fec: bool = False,
        frame_samples: int | None = None,
    ) -> int:
        """Decode into ``out`` (int16, reused); return samples per channel written.

        ``payload=None`` conceals one frame (PLC); ``fec=True`` decodes the
        FEC data of ``payload`` for the frame before it. ``frame_samples``
        bounds PLC/FEC output (default: the last frame's size). Raises
        :class:`OpusDecodeError` for a corrupt packet: then call
        :meth:`conceal` instead.
        """
        if payload is not None and not isinstance(payload, bytes):
            payload = bytes(payload)
        if payload is None or fec:
            frame = self.last_frame_samples if frame_samples is None else frame_samples
        else:
            frame = out.shape[0] // self.channels
        frame = min(frame, out.shape[0] // self.channels, self._max)
        n = self._lib.decode(
            self._state,
            payload,
            len(payload) if payload is not None else 0,
            self._out.of_array(out),
            frame,
            int(fec),
        )
        if n < 0:
            raise OpusDecodeError(f"Opus packet could not be decoded: {_strerror(self._lib, n)}")
        if payload is not None and not fec:
            self.last_frame_samples = int(n)
        return int(n)

    def decode(self, payload: bytes) -> bytes:
        """Decode one packet to interleaved PCM16 bytes."""
        n = self.decode_into(payload, self._scratch)
        return self._scratch[: n * self.channels].tobytes()

    def conceal(self, samples: int | None = None) -> bytes:
        """Packet-loss concealment for one lost frame (default: the last frame's length)."""
        n = self.decode_into(None, self._scratch, frame_samples=samples)
        return self._scratch[: n * self.channels].tobytes()

    def decode_fec(self, next_payload: bytes, samples: int | None = None) -> bytes:
        """Rebuild the lost frame before ``next_payload`` from its in-band FEC.

        Without FEC data libopus falls back to concealment. Decode
        ``next_payload`` itself normally afterwards.
        """
        n = self.decode_into(next_payload, self._scratch, fec=True, frame_samples=samples)
        return self._scratch[: n * self.channels].tobytes()

    def __del__(self) -> None:
        state = getattr(self, "_state", None)
        if state:
            self._lib.decoder_destroy(state)
            self._state = None

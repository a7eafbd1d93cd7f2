"""Audio primitives: PCM16 views, frame slicing, a streaming resampler, G.711.

Theory of operation
-------------------
Audio moves through this library as PCM16 little-endian mono ``bytes`` (or a
``memoryview`` of them). Nothing here does I/O or keeps time; everything is a
pure function or a small state machine fed by the caller.

* :func:`pcm16_to_array` is a zero-copy ``int16`` view of a byte buffer, so
  numeric work never pays for a copy on the way in. :func:`array_to_pcm16` goes
  back (one copy, into the ``bytes`` handed out).
* :class:`FrameSlicer` turns chunks of any size into frames of exactly
  ``frame_bytes``; it holds at most one partial frame between calls.
* :class:`Resampler` converts between 8, 16, 24 and 48 kHz with a rational
  polyphase FIR filter (upsample by ``L``, low-pass, keep every ``M``-th sample,
  computed without ever forming the zero-stuffed signal). The filter is a
  Kaiser-windowed sinc that cuts at the lower of the two Nyquist rates:
  passband flat to 0.005 dB up to 85 % of it, stopband below -69 dB from it on.
  Its centre sits on a whole output sample, so the delay is an integer number of
  output samples (:attr:`Resampler.delay`).
* ``ulaw_*`` / ``alaw_*`` are G.711 codecs driven by tables built at import: a
  65536-entry encode table indexed by the sample's 16 bits, a 256-entry decode
  table indexed by the code. They match CPython's ``audioop`` bit for bit.

Why the resampler is chunk-invariant, bit for bit
-------------------------------------------------
Output ``m`` of the stream is ``sum_j taps[phase(m)][j] * x[floor(m*M/L) - j]``;
it depends only on absolute positions, never on how the input was cut. The taps
are integers (the real filter scaled by ``2**24``) and the samples are integers,
and every partial sum stays far below ``2**53``, so float64 arithmetic is exact
whatever order BLAS adds in. Rounding to int16 happens once, on that exact
value. The state carried between calls is the input history the next outputs
still need (fewer than ``taps + M`` samples) and two counters, so feeding one
sample at a time, odd sizes or empty chunks gives the same bytes as one call.

How it is computed: outputs come in blocks of ``L`` that consume ``M`` inputs
each. Every block reads a window of ``W`` consecutive inputs, so one call forms
the (blocks x W) window matrix in a preallocated buffer and multiplies it by a
(W x L) tap matrix: one BLAS call per chunk, no Python loop per sample.

Errors: malformed audio (an odd byte count, a wrong dtype, a buffer that cannot
be viewed) raises :class:`AudioFormatError`, a :class:`ProtocolError`; a
resampler's state is never changed by a call that raises.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import as_strided

from adk_realtime.sansio.errors import ConfigError, ProtocolError

__all__ = [
    "SUPPORTED_RATES",
    "AudioFormatError",
    "FrameSlicer",
    "Resampler",
    "alaw_decode",
    "alaw_encode",
    "array_to_pcm16",
    "duration_ms",
    "ms_to_bytes",
    "pcm16_to_array",
    "pcm16_to_float",
    "resample",
    "ulaw_decode",
    "ulaw_encode",
    "whole_samples",
]

Int16Array = npt.NDArray[np.int16]
BytesLike = bytes | bytearray | memoryview
PcmInput = bytes | bytearray | memoryview | npt.NDArray[Any]

SUPPORTED_RATES: Final = (8000, 16000, 24000, 48000)
_PCM16: Final = np.dtype("<i2")


class AudioFormatError(ProtocolError, ValueError):
    """Audio data is not what was promised (odd PCM16 byte count, wrong dtype, ...)."""


# ---------------------------------------------------------------------------
# PCM16 <-> numpy
# ---------------------------------------------------------------------------


def _byte_view(data: object, what: str) -> memoryview:
    try:
        view = memoryview(data)  # type: ignore[arg-type]
    except TypeError:
        raise AudioFormatError(
            f"{what}: expected bytes, bytearray or memoryview, got {type(data).__name__}"
        ) from None
    if not view.c_contiguous:
        raise AudioFormatError(f"{what}: the buffer is not contiguous; pass bytes(...) of it")
    return view.cast("B") if view.format != "B" or view.ndim != 1 else view


def pcm16_to_array(data: BytesLike) -> Int16Array:
    """View PCM16 little-endian mono bytes as an ``int16`` array, without copying.

    The array shares memory with ``data`` (read-only when ``data`` is ``bytes``),
    so keep ``data`` alive and unchanged while you use it. Raises
    :class:`AudioFormatError` when the byte count is odd: PCM16 samples are two
    bytes, so an odd count means a sample was cut; fix the producer, or keep
    the stray byte for the next chunk (:class:`FrameSlicer` does that).
    """
    view = _byte_view(data, "PCM16 audio")
    if view.nbytes % 2:
        raise AudioFormatError(
            f"PCM16 audio has an odd byte count ({view.nbytes}): samples are 2 bytes each"
        )
    return np.frombuffer(view, dtype=_PCM16)


def pcm16_to_float(data: BytesLike) -> npt.NDArray[np.float32]:
    """Decode PCM16 bytes to ``float32`` in [-1, 1) (one new array; ``x / 32768``)."""
    return pcm16_to_array(data).astype(np.float32) * np.float32(1.0 / 32768.0)


def _as_int16_array(samples: object, what: str) -> Int16Array:
    """Accept PCM16 bytes-likes (viewed, no copy) or a 1-D int16 ndarray (as is)."""
    if isinstance(samples, np.ndarray):
        if samples.dtype != np.int16:
            raise AudioFormatError(f"{what}: expected int16 samples, got dtype {samples.dtype}")
        if samples.ndim != 1:
            raise AudioFormatError(
                f"{what}: expected a 1-D (mono) array, got shape {samples.shape}"
            )
        return samples
    return pcm16_to_array(samples)  # type: ignore[arg-type]


def array_to_pcm16(arr: npt.ArrayLike) -> bytes:
    """Encode samples as PCM16 little-endian bytes.

    ``int16`` arrays are written as they are. Floating-point arrays are taken
    as [-1, 1] full scale: multiplied by 32768, rounded to nearest, clipped to
    the int16 range (so 1.0 becomes 32767). NaN raises :class:`AudioFormatError`;
    so does any other dtype or a non-1-D array.
    """
    a = np.asarray(arr)
    if a.ndim != 1:
        raise AudioFormatError(f"expected a 1-D (mono) array, got shape {a.shape}")
    if a.dtype == np.int16:
        return a.astype(_PCM16, copy=False).tobytes()
    if a.dtype.kind != "f":
        raise AudioFormatError(f"expected int16 or floating-point samples, got dtype {a.dtype}")
    if np.isnan(a).any():
        raise AudioFormatError("float samples contain NaN")
    scaled = np.rint(a.astype(np.float64) * 32768.0)
    np.clip(scaled, -32768.0, 32767.0, out=scaled)
    return scaled.astype(_PCM16).tobytes()


def duration_ms(nbytes: int, sample_rate: int, bytes_per_sample: int = 2) -> float:
    """How many milliseconds ``nbytes`` of mono audio last (2 bytes/sample PCM16, 1 for G.711)."""
    if sample_rate <= 0 or bytes_per_sample <= 0:
        raise ConfigError("sample_rate", "sample rate and bytes per sample must be positive")
    return nbytes / bytes_per_sample * 1000.0 / sample_rate


def ms_to_bytes(ms: float, rate: int, bytes_per_sample: int = 2) -> int:
    """Bytes in ``ms`` milliseconds of mono audio at ``rate`` (whole samples, rounded).

    ``ms_to_bytes(20, 24000) == 960``: use it to size :class:`FrameSlicer` frames.
    """
    if rate <= 0 or bytes_per_sample <= 0:
        raise ConfigError("rate", "sample rate and bytes per sample must be positive")
    if ms < 0:
        raise ConfigError("ms", f"duration must not be negative, got {ms}")
    return round(ms * rate / 1000.0) * bytes_per_sample


# ---------------------------------------------------------------------------
# Frame slicing
# ---------------------------------------------------------------------------


def whole_samples(carry: bytes, data: BytesLike, sample_width: int = 2) -> tuple[BytesLike, bytes]:
    """Join ``carry`` (a partial sample left from the previous chunk) and ``data``.

    Returns ``(whole, rest)``: ``whole`` holds only complete samples, ``rest`` the
    trailing bytes of a sample cut at the chunk edge, to pass as ``carry`` next
    time. The common case (no carry, ``data`` already whole) returns ``data``
    itself without copying. This is the one place that repairs odd-length PCM
    chunks (a provider may split a base64 delta mid-sample).
    """
    odd = (len(carry) + memoryview(data).nbytes) % sample_width
    if not carry and not odd:
        return data, b""
    joined = carry + bytes(data)
    cut = len(joined) - odd
    return joined[:cut], joined[cut:]


class FrameSlicer:
    """Cut a stream of byte chunks of any size into frames of exactly ``frame_bytes``.

    Feed chunks with :meth:`push`; it returns the whole frames now available.
    Between calls it holds at most one partial frame (fewer than ``frame_bytes``
    bytes, in one preallocated buffer), so its memory is bounded. At the end of
    a stream, call :meth:`flush` for the remainder.
    """

    def __init__(self, frame_bytes: int) -> None:
        if not isinstance(frame_bytes, int) or frame_bytes <= 0:
            raise ConfigError("frame_bytes", f"must be a positive int, got {frame_bytes!r}")
        self.frame_bytes: Final = frame_bytes
        self._partial = bytearray(frame_bytes)
        self._fill = 0

    @property
    def pending(self) -> int:
        """Bytes of the partial frame held now (always less than ``frame_bytes``)."""
        return self._fill

    def push(self, data: BytesLike) -> list[memoryview]:
        """Add a chunk; return the complete frames, oldest first (maybe none).

        Frames lying wholly inside ``data`` are zero-copy views of it: if you
        passed a mutable buffer and will change it, copy them (``bytes(f)``)
        first. A frame that straddles chunks is assembled into new bytes. Send
        or process the frames, then push the next chunk.
        """
        view = _byte_view(data, "audio chunk")
        size = self.frame_bytes
        frames: list[memoryview] = []
        pos = 0
        n = view.nbytes
        if self._fill:
            take = min(size - self._fill, n)
            self._partial[self._fill : self._fill + take] = view[:take]
            self._fill += take
            pos = take
            if self._fill < size:
                return frames
            frames.append(memoryview(bytes(self._partial)))
            self._fill = 0
        while n - pos >= size:
            frames.append(view[pos : pos + size])
            pos += size
        rest = n - pos
        if rest:
            self._partial[:rest] = view[pos:]
            self._fill = rest
        return frames

    def flush(self, pad: bool = False) -> bytes:
        """Return the partial frame and forget it (``b""`` if none).

        With ``pad=True`` a non-empty remainder is filled up with zero bytes
        (silence for PCM16) to a whole frame. The slicer is then empty and
        ready for a new stream.
        """
        fill = self._fill
        self._fill = 0
        if not fill:
            return b""
        if pad:
            self._partial[fill:] = bytes(self.frame_bytes - fill)
            return bytes(self._partial)
        return bytes(self._partial[:fill])

    def reset(self) -> None:
        """Drop the partial frame, if any."""
        self._fill = 0


# ---------------------------------------------------------------------------
# Resampler: filter design (module-level constant data, built once at import)
# ---------------------------------------------------------------------------

_COEF_BITS: Final = 24  # taps are integers: the real filter times 2**24
_STOP_DB: Final = 70.0  # Kaiser design target; measured >= 69 dB for every pair
_PASS_FRACTION: Final = 0.85  # passband edge as a fraction of the lower Nyquist
_MAX_WINDOW_ELEMS: Final = 1 << 18  # caps the window matrix (2 MiB of float64) per pass


@dataclass(frozen=True)
class _Design:
    up: int  # L
    down: int  # M
    taps: int  # T, taps per polyphase branch
    window: int  # W, inputs one block of L outputs reads
    delay: int  # group delay, in output samples
    matrix: npt.NDArray[np.float64]  # (W, L) integer-valued taps
    flat: npt.NDArray[np.int64]  # the whole prototype filter, T*L integer taps


def _design(src: int, dst: int) -> _Design:
    g = math.gcd(src, dst)
    up, down = dst // g, src // g
    fs = up * src  # the rate of the (never formed) zero-stuffed signal
    nyq = min(src, dst) / 2.0
    f_pass, f_stop = _PASS_FRACTION * nyq, nyq
    fc = (f_pass + f_stop) / 2.0
    beta = 0.1102 * (_STOP_DB - 8.7)
    n_req = (_STOP_DB - 7.95) / (2.285 * 2.0 * math.pi * (f_stop - f_pass) / fs) + 1.0
    # Centre on a multiple of M: the delay is then a whole number of output samples.
    centre = down * math.ceil((n_req - 1.0) / 2.0 / down)
    length = 2 * centre + 1
    taps = -(-length // up)
    k = np.arange(length, dtype=np.float64)
    proto = up * (2.0 * fc / fs) * np.sinc(2.0 * fc / fs * (k - centre)) * np.kaiser(length, beta)
    flat = np.zeros(taps * up, dtype=np.int64)
    flat[:length] = np.rint(proto * (1 << _COEF_BITS)).astype(np.int64)
    # Give every branch a DC gain of exactly 1, so silence and DC stay exact.
    unity = 1 << _COEF_BITS
    for p in range(up):
        branch = flat[p::up]
        branch[np.argmax(branch)] += unity - int(branch.sum())
    # Output r of a block (r < L) uses phase (r*M) % L and inputs up to r*M // L
    # past the block start; lay each branch's taps out over the block's window.
    reach = ((up - 1) * down) // up
    window = taps + reach
    matrix = np.zeros((window, up), dtype=np.float64)
    for r in range(up):
        phase, offset = (r * down) % up, (r * down) // up
        branch = flat[phase::up]  # branch[j] multiplies x[base + offset - j]
        rows = offset + taps - 1 - np.arange(taps)
        matrix[rows, r] = branch
    bound = 32768 * float(np.abs(matrix).sum(axis=0).max())
    assert bound < 2.0**53, "float64 accumulation would no longer be exact"
    matrix.setflags(write=False)
    flat.setflags(write=False)
    return _Design(up, down, taps, window, centre // down, matrix, flat)


_DESIGNS: Final = {
    (s, d): _design(s, d) for s in SUPPORTED_RATES for d in SUPPORTED_RATES if s != d
}


def _check_rate(name: str, rate: object) -> int:
    if not isinstance(rate, int) or rate not in SUPPORTED_RATES:
        raise ConfigError(name, f"{rate!r} Hz is not supported (use 8000, 16000, 24000 or 48000)")
    return rate


class Resampler:
    """Streaming PCM16 sample-rate converter between 8000, 16000, 24000 and 48000 Hz.

    Create one per audio stream and feed it every chunk in order with
    :meth:`process` (bytes), :meth:`process_array` or, on the hot path,
    :meth:`process_into` with a buffer you reuse. Chunks may be any size,
    including empty or a single sample: the concatenated output is identical,
    bit for bit, to converting the whole signal in one call. Output lags input
    by :attr:`delay` output samples (the filter's group delay); at the end of
    the stream call :meth:`flush` for the tail. :meth:`reset` starts over.

    Same-rate "conversion" passes audio through untouched.
    """

    def __init__(self, src_rate: int, dst_rate: int) -> None:
        self.src_rate: Final = _check_rate("src_rate", src_rate)
        self.dst_rate: Final = _check_rate("dst_rate", dst_rate)
        self._d = _DESIGNS.get((src_rate, dst_rate))
        d = self._d
        if d is None:
            self._pass_in = 0
            self._hist_cap = 0
        else:
            # Internal passes are capped so the window matrix stays small for big chunks.
            self._pass_in = max(d.down, (_MAX_WINDOW_ELEMS // d.window) * d.down)
            self._hist_cap = d.taps + d.down
        self._cap_in = -1  # input samples the work buffers are sized for
        self._buf = np.zeros(0, dtype=np.int16)
        self._xmat = np.zeros((0, 0), dtype=np.float64)
        self._ymat = np.zeros((0, 0), dtype=np.float64)
        self._grow(min(960, self._pass_in))  # 20 ms at 48 kHz without reallocating
        self.reset()

    # -- public ------------------------------------------------------------

    @property
    def delay(self) -> int:
        """Group delay in output samples: input time 0 comes out as output sample ``delay``."""
        return 0 if self._d is None else self._d.delay

    def max_output_samples(self, n_in: int) -> int:
        """The most samples one call with ``n_in`` input samples can produce.

        Size the ``out`` buffer of :meth:`process_into` with it (it is the same
        bound whatever the resampler's state): ``ceil(n_in * dst / src)``.
        """
        if n_in <= 0:
            return 0
        return -(-n_in * self.dst_rate // self.src_rate)

    def reset(self) -> None:
        """Forget all input so far: the next chunk starts a new stream (history = silence)."""
        self._n_in = 0  # input samples consumed since reset
        self._n_out = 0  # output samples produced since reset
        if self._d is not None:
            self._hist_len = self._d.taps - 1  # the zeros before the first sample
            self._buf[: self._hist_len] = 0

    def process(self, pcm: PcmInput) -> bytes:
        """Convert a chunk of PCM16 (bytes-like, or an int16 array); return PCM16 bytes.

        Raises :class:`AudioFormatError` on an odd byte count or a non-int16
        array, leaving the stream as it was. Call again with the next chunk.
        Same-rate ``bytes`` input is returned as the same object.
        """
        if self._d is None:
            if isinstance(pcm, bytes):
                if len(pcm) % 2:
                    pcm16_to_array(pcm)  # raises the odd-count error
                return pcm
            return _as_int16_array(pcm, "PCM16 audio").astype(_PCM16, copy=False).tobytes()
        samples = _as_int16_array(pcm, "PCM16 audio")
        out = np.empty(self.max_output_samples(len(samples)), dtype=_PCM16)
        n = self._run(samples, out)
        return out[:n].tobytes()

    def process_array(self, samples: Int16Array) -> Int16Array:
        """Convert a chunk of int16 samples; return a new int16 array (the input itself if same-rate)."""
        samples = _as_int16_array(samples, "samples")
        if self._d is None:
            return samples
        out = np.empty(self.max_output_samples(len(samples)), dtype=np.int16)
        n = self._run(samples, out)
        return out[:n]

    def process_into(self, samples: PcmInput, out: Int16Array) -> int:
        """Convert a chunk into ``out`` (an int16 array you own and reuse); return samples written.

        ``out`` needs room for ``max_output_samples(len(samples))``; if it has
        less, :class:`AudioFormatError` is raised and nothing is consumed. The
        result is ``out[:n]``; hand it on, then reuse ``out`` for the next chunk.
        Internal work buffers are preallocated and only grow when a chunk larger
        than any before arrives, so steady 20 ms frames allocate nothing big.
        """
        arr = _as_int16_array(samples, "samples")
        if not isinstance(out, np.ndarray) or out.dtype != np.int16 or out.ndim != 1:
            raise AudioFormatError("out must be a 1-D int16 numpy array")
        if self._d is None:
            n = len(arr)
            if len(out) < n:
                raise AudioFormatError(f"out has room for {len(out)} samples, need {n}")
            out[:n] = arr
            return n
        need = self._count(len(arr))
        if len(out) < need:
            raise AudioFormatError(
                f"out has room for {len(out)} samples but this chunk yields {need}; "
                "size it with max_output_samples()"
            )
        return self._run(arr, out)

    def flush(self) -> bytes:
        """End the stream: return the filter's tail (the last input's ringing) and reset.

        Feeds the filter enough silence to bring out every sample that still
        depends on real input. After it the resampler is ready for a new stream.
        """
        if self._d is None:
            return b""
        data = self.process(np.zeros(self._d.taps - 1, dtype=np.int16))
        self.reset()
        return data

    # -- internals -----------------------------------------------------------

    def _count(self, n: int) -> int:
        d = self._d
        assert d is not None
        return -(-(self._n_in + n) * d.up // d.down) - self._n_out

    def _grow(self, n_in: int) -> None:
        """Size the work buffers for passes of ``n_in`` input samples (never shrinks)."""
        d = self._d
        if d is None or n_in <= self._cap_in:
            return
        blocks = n_in // d.down + 3
        buf = np.zeros(self._hist_cap + (blocks + 1) * d.down + d.window, dtype=np.int16)
        if self._cap_in >= 0:
            buf[: self._hist_len] = self._buf[: self._hist_len]
        self._buf = buf
        self._xmat = np.empty((blocks, d.window), dtype=np.float64)
        self._ymat = np.empty((blocks, d.up), dtype=np.float64)
        self._cap_in = n_in

    def _run(self, samples: Int16Array, out: Int16Array) -> int:
        total = len(samples)
        if total > self._cap_in:
            self._grow(min(total, self._pass_in))
        written = 0
        pos = 0
        while pos < total:
            step = min(total - pos, self._pass_in)
            written += self._pass(samples[pos : pos + step], out[written:])
            pos += step
        return written

    def _pass(self, x: Int16Array, out: Int16Array) -> int:
        d = self._d
        assert d is not None
        up, down = d.up, d.down
        n = len(x)
        buf = self._buf
        hist = self._hist_len
        buf[hist : hist + n] = x
        n_in = self._n_in + n
        e0 = self._n_out
        e1 = -(-n_in * up // down)
        self._n_in = n_in
        if e1 == e0:
            self._hist_len = hist + n
            return 0
        b0 = e0 // up
        nb = -(-e1 // up) - b0
        # The last block may read past the inputs received so far (stale buffer
        # contents): only its outputs that need those inputs do, and they are
        # not emitted this call, so there is nothing to clear.
        step = buf.strides[0]
        windows = as_strided(buf, shape=(nb, d.window), strides=(down * step, step))
        xm = self._xmat[:nb]
        np.copyto(xm, windows)
        ym = self._ymat[:nb]
        np.matmul(xm, d.matrix, out=ym)
        vals = ym.reshape(-1)[e0 - b0 * up : e1 - b0 * up]
        # vals are exact integers; scale by a power of two (exact), round once, clip.
        np.multiply(vals, 1.0 / (1 << _COEF_BITS), out=vals)
        np.rint(vals, out=vals)
        np.clip(vals, -32768.0, 32767.0, out=vals)
        count = e1 - e0
        np.copyto(out[:count], vals, casting="unsafe")
        # Keep only the history the next output's block still needs.
        shift = (e1 // up - b0) * down
        keep = hist + n - shift
        buf[:keep] = buf[shift : shift + keep]
        self._hist_len = keep
        self._n_out = e1
        return count


def resample(pcm: BytesLike, src: int, dst: int) -> bytes:
    """Convert a whole PCM16 clip from ``src`` to ``dst`` Hz in one call.

    Unlike a :class:`Resampler` stream, the result is time-aligned with the
    input (the filter delay is removed) and has exactly
    ``ceil(len_in * dst / src)`` samples. For live audio use :class:`Resampler`.
    """
    r = Resampler(src, dst)
    if src == dst:
        return bytes(pcm16_to_array(pcm))
    n_in = len(pcm16_to_array(pcm))
    body = r.process(pcm) + r.flush()
    start = 2 * r.delay
    return body[start : start + 2 * r.max_output_samples(n_in)]


# ---------------------------------------------------------------------------
# G.711 (tables built once at import; CPython's audioop is the reference)
# ---------------------------------------------------------------------------


def _build_ulaw_encode() -> npt.NDArray[np.uint8]:
    s = np.arange(-32768, 32768, dtype=np.int32)
    v = s >> 2  # 14-bit, arithmetic shift (floors negatives, as audioop does)
    neg = v < 0
    mag = np.minimum(np.where(neg, -v, v), 8159) + 33  # clip, then add the 0x84 bias >> 2
    seg = np.searchsorted((64 << np.arange(8)) - 1, mag, side="left")
    level = (mag >> np.minimum(seg + 1, 8)) & 0x0F
    code = np.where(seg >= 8, 0x7F, (seg << 4) | level)
    code ^= np.where(neg, 0x7F, 0xFF)  # u-law sends every bit inverted; sign 0 = negative
    return _by_unsigned_index(code)


def _build_alaw_encode() -> npt.NDArray[np.uint8]:
    s = np.arange(-32768, 32768, dtype=np.int32)
    v = s >> 3  # 13-bit
    neg = v < 0
    mag = np.where(neg, -v - 1, v)  # one's-complement magnitude, as G.711 A-law
    seg = np.searchsorted((32 << np.arange(8)) - 1, mag, side="left")  # always < 8 here
    level = np.where(seg < 2, mag >> 1, mag >> np.maximum(seg, 1)) & 0x0F
    code = (seg << 4) | level
    code ^= np.where(neg, 0x55, 0xD5)  # even bits inverted; sign 1 = positive
    return _by_unsigned_index(code)


def _by_unsigned_index(code_by_signed: npt.NDArray[Any]) -> npt.NDArray[np.uint8]:
    # The table is indexed by the sample's raw 16 bits (uint16), so rotate
    # -32768..32767 into 0..65535 order: index u holds the code of int16(u).
    table = np.roll(code_by_signed.astype(np.uint8), -32768)
    table.setflags(write=False)
    return table


def _build_ulaw_decode() -> npt.NDArray[np.int16]:
    u = ~np.arange(256, dtype=np.int32) & 0xFF
    t = (((u & 0x0F) << 3) + 0x84) << ((u & 0x70) >> 4)
    table = np.where(u & 0x80, 0x84 - t, t - 0x84).astype(_PCM16)
    table.setflags(write=False)
    return table


def _build_alaw_decode() -> npt.NDArray[np.int16]:
    a = np.arange(256, dtype=np.int32) ^ 0x55
    seg = (a & 0x70) >> 4
    t = (a & 0x0F) << 4
    t = np.where(seg == 0, t + 8, (t + 0x108) << np.maximum(seg - 1, 0))
    table = np.where(a & 0x80, t, -t).astype(_PCM16)
    table.setflags(write=False)
    return table


_ULAW_ENC: Final = _build_ulaw_encode()
_ALAW_ENC: Final = _build_alaw_encode()
_ULAW_DEC: Final = _build_ulaw_decode()
_ALAW_DEC: Final = _build_alaw_decode()


def _encode(table: npt.NDArray[np.uint8], pcm16: BytesLike) -> bytes:
    view = _byte_view(pcm16, "PCM16 audio")
    if view.nbytes % 2:
        raise AudioFormatError(
            f"PCM16 audio has an odd byte count ({view.nbytes}): samples are 2 bytes each"
        )
    encoded: bytes = table[np.frombuffer(view, dtype="<u2")].tobytes()
    return encoded


def _decode(table: npt.NDArray[np.int16], data: BytesLike) -> bytes:
    codes = np.frombuffer(_byte_view(data, "G.711 audio"), dtype=np.uint8)
    decoded: bytes = table[codes].tobytes()
    return decoded


def ulaw_encode(pcm16: BytesLike) -> bytes:
    """PCM16 little-endian -> G.711 u-law, one byte per sample (same as ``audioop.lin2ulaw``)."""
    return _encode(_ULAW_ENC, pcm16)


def ulaw_decode(data: BytesLike) -> bytes:
    """G.711 u-law -> PCM16 little-endian (same as ``audioop.ulaw2lin(data, 2)``)."""
    return _decode(_ULAW_DEC, data)


def alaw_encode(pcm16: BytesLike) -> bytes:
    """PCM16 little-endian -> G.711 A-law, one byte per sample (same as ``audioop.lin2alaw``)."""
    return _encode(_ALAW_ENC, pcm16)


def alaw_decode(data: BytesLike) -> bytes:
    """G.711 A-law -> PCM16 little-endian (same as ``audioop.alaw2lin(data, 2)``)."""
    return _decode(_ALAW_DEC, data)

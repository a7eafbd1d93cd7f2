"""The simulator's "voice": a tone code that carries text inside audio, and an energy VAD.

Theory of operation
-------------------
The offline simulator must both *speak* (send audio a client can play) and *listen* (understand
the audio a client sends) without any speech model. So its speech is a tone code that a decoder
can read back, and the same code is what tests and demos "say" to it.

Design (one paragraph for DESIGN.md): text is encoded as UTF-8 and each byte is sent as two
4-bit symbols (high nibble first). A symbol is a single sine tone held for 32 ms with 4 ms
raised-cosine ramps at both ends (no clicks, little splatter). The tone is one of 18
frequencies spaced evenly from 400 Hz to 3200 Hz (165 Hz apart): 17 carry data and the highest
is a frame marker sent (for 64 ms) before and after every utterance. Data tones are
*differential*: a nibble v is sent as tone (previous + 1 + v) mod 17, so two neighbouring
symbols never share a tone. That makes the code self-clocking: the decoder needs no symbol
timing at all, only "which tone dominates now". It slides a 16 ms Hann window in 4 ms hops,
labels each hop with the dominant tone if that tone holds at least 40 % of the window's energy
(else "noise"), and turns runs of a label into symbols; runs of the same label are always the
same symbol, so glitches at symbol edges cannot duplicate or split one. Because only tone
identity matters (not amplitude, phase or exact timing), the code survives resampling between
8/16/24/48 kHz (all tones sit below the 4 kHz Nyquist limit of 8 kHz), G.711 u-law/A-law
quantisation (about 38 dB SNR), level changes, and codecs such as Opus that keep the 0-4 kHz band.
The tones are continuous at a speech-like level (-14 dBFS) with a slow 4 Hz "syllable"
modulation, so an energy VAD treats an utterance as one stretch of speech. It costs about
64 ms per ASCII character, close to a person's speaking rate.

Everything here is pure numpy: no I/O, no clocks.
"""

from __future__ import annotations

import codecs
import copy
import functools
import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = [
    "EnergyVad",
    "SpeechRecognizer",
    "VadEvent",
    "char_end_times",
    "speech_duration",
    "synthesize_speech",
]

FloatArray = npt.NDArray[np.float64]

# --- the tone code ---------------------------------------------------------------------------

_N_DATA = 17  # data tones: a nibble v is sent as tone (prev + 1 + v) % 17
_MARK = 17  # the frame-marker tone index
_FREQS = tuple(400.0 + k * (2800.0 / 17.0) for k in range(18))  # 400 Hz .. 3200 Hz
_SYMBOL_S = 0.032  # one nibble
_MARK_S = 0.064  # start/stop markers are held twice as long
_RAMP_S = 0.004  # raised-cosine attack/release of every symbol
_LEAD_S = 0.040  # silence before and after an utterance (separates back-to-back utterances)
_AMPLITUDE = 0.2  # -14 dBFS: a normal speaking level
_SYLLABLE_HZ = 4.0  # slow amplitude modulation that makes the envelope speech-like
_SYLLABLE_DEPTH = 0.25

# Rates whose sample counts for the durations above are whole numbers.
_RATES = (8000, 16000, 24000, 48000)


def _check_rate(sample_rate: int) -> None:
    if sample_rate not in _RATES:
        raise ValueError(
            f"sample rate {sample_rate} Hz is not supported (use 8000, 16000, 24000 or 48000)"
        )


def _symbols(text: str) -> list[int]:
    """Tone indices of one utterance: marker, differential nibbles, marker."""
    out = [_MARK]
    prev = 0
    for byte in text.encode("utf-8"):
        for nibble in (byte >> 4, byte & 0x0F):
            prev = (prev + 1 + nibble) % _N_DATA
            out.append(prev)
    out.append(_MARK)
    return out


def speech_duration(text: str) -> float:
    """Seconds of audio :func:`synthesize_speech` makes for ``text``."""
    n_data = 2 * len(text.encode("utf-8"))
    return 2 * _LEAD_S + 2 * _MARK_S + n_data * _SYMBOL_S


def char_end_times(text: str) -> list[float]:
    """For each character of ``text``, the time (s) into its audio when it has been fully said.

    Used to send transcript deltas in step with audio deltas, and to cut a transcript at the
    point where the listener stopped hearing (``conversation.item.truncate``).
    """
    t = _LEAD_S + _MARK_S
    out = []
    for ch in text:
        t += 2 * len(ch.encode("utf-8")) * _SYMBOL_S
        out.append(t)
    return out


@functools.lru_cache(maxsize=4 * 18 * 2)  # every (rate, tone, length) there is: constants
def _tone_table(sample_rate: int, index: int, n: int) -> FloatArray:
    t = np.arange(n) / sample_rate
    ramp = round(_RAMP_S * sample_rate)
    env = np.ones(n)
    rc = 0.5 - 0.5 * np.cos(np.pi * (np.arange(ramp) + 0.5) / ramp)
    env[:ramp] = rc
    env[n - ramp :] = rc[::-1]
    table = env * np.sin(2 * np.pi * _FREQS[index] * t)
    table.flags.writeable = False
    return table


def synthesize_speech(text: str, sample_rate: int) -> bytes:
    """Speak ``text`` as tone-coded PCM16 (little-endian, mono) at ``sample_rate``.

    The audio is :func:`speech_duration` long and decodes back to ``text`` with
    :class:`SpeechRecognizer`. Supported rates: 8000, 16000, 24000, 48000.
    """
    _check_rate(sample_rate)
    lead = round(_LEAD_S * sample_rate)
    sym = round(_SYMBOL_S * sample_rate)
    mark = round(_MARK_S * sample_rate)
    parts: list[FloatArray] = [np.zeros(lead)]
    for index in _symbols(text):
        parts.append(_tone_table(sample_rate, index, mark if index == _MARK else sym))
    parts.append(np.zeros(lead))
    signal = np.concatenate(parts)
    t = np.arange(signal.size) / sample_rate
    envelope = _AMPLITUDE * (
        1.0 - _SYLLABLE_DEPTH * 0.5 * (1 - np.cos(2 * np.pi * _SYLLABLE_HZ * t))
    )
    pcm = np.round(signal * envelope * 32767.0).astype("<i2")
    return pcm.tobytes()


# --- the decoder -----------------------------------------------------------------------------

_HOP_S = 0.004
_WINDOW_S = 0.016
_PURITY = 0.4  # share of window energy the dominant tone must hold
_FLOOR = 10.0 ** (-50.0 / 10.0)  # mean power (full scale = 1) below which a window is silence
_MIN_RUN = 2  # hops a label must last to count as a symbol
_BREAK_HOPS = 6  # a silent gap this long (24 ms) separates two symbols even if they share a tone
_IDLE_HOPS = 100  # 400 ms of no tone ends an utterance that lost its stop marker
# A window's power is sum(w x^2) * 2 / sum(w) <= 2 * peak^2 (the Hann weights are at most 1),
# so audio whose peak is at most this is below _FLOOR everywhere, with a 2x margin that
# rounding cannot eat: it is labelled silence without computing a spectrum.
_QUIET_PEAK = math.sqrt(_FLOOR / 4.0)


def _peak_at_most(samples: FloatArray, bound: float) -> bool:
    """Whether every sample's magnitude is <= ``bound`` (NaN: False), cheapest test first.

    ``samples`` is not empty."""
    if abs(samples[0]) > bound or abs(samples[-1]) > bound:
        return False  # loud audio nearly always shows it at an end: no pass over the array
    if not samples.any():
        return True  # digital silence: the common case, one pass with no arithmetic
    return bool(samples.max() <= bound and -samples.min() <= bound)


class SpeechRecognizer:
    """Streaming decoder of :func:`synthesize_speech` audio.

    Feed PCM16 mono bytes at the rate given to the constructor with :meth:`feed` (any chunk
    size); :attr:`text` is everything understood since the last :meth:`reset`, utterances
    joined by a space (an utterance still being heard is included as far as it got). Audio that
    is not tone-coded (silence, noise, a real voice) decodes to nothing.

    Fed audio is queued and decoded in batches of windows, or as soon as :attr:`text`,
    :attr:`in_utterance` or :meth:`clone` reads the state: the result is the one decoding
    every feed at once gives, at a fraction of numpy's cost per call.
    """

    # Windows a batch waits for (100 ms of audio): a 20 ms frame has only 5, and decoding so
    # few at a time is nearly all numpy's cost per call (measured: bench/bench_sim_ears.py).
    _BATCH_HOPS = 25
    # ...and hold at most this many samples in all (28 windows at 8 kHz, 4 at 48 kHz): OpenBLAS
    # runs a product of more than 65536 complex multiply-adds (windows x window x 18 tones) on
    # threads, which on a busy machine cost more CPU than they save (measured: 32 windows at
    # 8 kHz take 3x the CPU of 28).
    _BATCH_SAMPLES = 3600

    def __init__(self, sample_rate: int) -> None:
        _check_rate(sample_rate)
        self.sample_rate = sample_rate
        self._hop = round(_HOP_S * sample_rate)
        self._win = round(_WINDOW_S * sample_rate)
        window = np.hanning(self._win + 2)[1:-1]  # no zero end points
        n = np.arange(self._win)
        freqs = np.asarray(_FREQS)
        basis = window[:, None] * np.exp(-2j * np.pi * freqs[None, :] * n[:, None] / sample_rate)
        self._basis = basis
        self._window = window
        self._tone_scale = 4.0 / float(window.sum()) ** 2  # |X|^2 -> A^2 of a tone
        self._power_scale = 2.0 / float(window.sum())  # sum(w x^2) -> A^2 of a tone
        self._skip_quiet = True  # label quiet audio without a spectrum (tests compare both)
        # Windows per batch; 0 or 1: decode every feed at once (tests compare both).
        self._batch_hops = max(1, min(self._BATCH_HOPS, self._BATCH_SAMPLES // self._win))
        self.reset()

    def reset(self) -> None:
        """Forget everything heard so far (buffered samples, partial symbols, text)."""
        self._pending = np.zeros(0)  # decoded up to here: the start of the next window
        self._queued: list[FloatArray] = []  # fed since the last decode (our own arrays)
        self._queued_size = 0
        self._odd = b""
        self._run_label = -1
        self._run_len = 0
        self._gap = 0  # hops since the last accepted symbol's run ended
        self._last_symbol = -1  # last accepted tone, for merging runs split by a short gap
        self._in_message = False
        self._data_seen = False  # a data symbol since the start marker
        self._prev = 0
        self._high: int | None = None
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._done: list[str] = []
        self._current = ""

    def clone(self) -> SpeechRecognizer:
        """An independent copy that continues from exactly this point (a resumed session's
        ears). The constant tables are shared; the decoding state is copied."""
        self._decode_queued()
        twin = copy.copy(self)
        twin._queued = []
        twin._done = list(self._done)
        twin._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        twin._decoder.setstate(self._decoder.getstate())
        return twin

    @property
    def text(self) -> str:
        """The text understood so far (finished utterances and the one in progress)."""
        self._decode_queued()
        parts = [*self._done, self._current] if self._current else self._done
        return " ".join(p for p in parts if p)

    @property
    def in_utterance(self) -> bool:
        """True between an utterance's start marker and its end."""
        self._decode_queued()
        return self._in_message

    def feed(self, pcm: bytes | bytearray | memoryview) -> None:
        """Hear more audio (PCM16 little-endian mono); then read :attr:`text`."""
        data = bytes(pcm)
        if self._odd:
            data = self._odd + data
        cut = len(data) - len(data) % 2
        self._odd = data[cut:]  # half a sample: keep it for the next call
        if cut:
            self._queue(np.frombuffer(data[:cut], dtype="<i2").astype(np.float64) / 32768.0)

    def feed_samples(self, samples: FloatArray) -> None:
        """Hear more audio given as floats in -1..1 (what :meth:`feed` does after parsing);
        then read :attr:`text`."""
        self._queue(np.array(samples, dtype=np.float64))  # a copy: the caller may reuse its own

    def _queue(self, samples: FloatArray) -> None:
        """Queue ``samples`` (an array no one else changes); decode once a batch is ready."""
        if not samples.size:
            return
        batch = max(self._batch_hops, 1)
        queued = self._pending.size + self._queued_size
        if self._queued and self._windows(queued + samples.size) > batch:
            self._decode_queued()  # first what is queued: no batch grows past its size
        self._queued.append(samples)
        self._queued_size += samples.size
        if self._windows(self._pending.size + self._queued_size) >= batch:
            self._decode_queued()

    def _windows(self, samples: int) -> int:
        """How many windows ``samples`` samples from a window's start hold."""
        return 0 if samples < self._win else 1 + (samples - self._win) // self._hop

    def _decode_queued(self) -> None:
        """Decode the queued audio: every window that fits, in one pass.

        A window is a fixed slice of the stream (it starts at a multiple of the hop), whatever
        feeds and batches the audio came in: this labels the same windows, in the same order,
        as decoding each feed at once would, and leaves the same state."""
        if not self._queued:
            return
        buf = np.concatenate((self._pending, *self._queued))
        self._queued = []
        self._queued_size = 0
        if buf.size < self._win:
            self._pending = buf
            return
        n_frames = self._windows(buf.size)
        analysed = buf[: (n_frames - 1) * self._hop + self._win]
        if self._skip_quiet and _peak_at_most(analysed, _QUIET_PEAK):
            self._quiet_hops(n_frames)  # every window is below _FLOOR: all "noise" labels
        else:
            for label in self._labels(buf, n_frames).tolist():
                self._hop_label(label)
        self._pending = buf[n_frames * self._hop :].copy()

    def _labels(self, buf: FloatArray, n_frames: int) -> npt.NDArray[np.intp]:
        """The label of each of the ``n_frames`` windows of ``buf``: a tone index or -1."""
        # The view sliding_window_view(buf, win)[::hop][:n_frames] is, built directly (the
        # windows end inside buf by the choice of n_frames).
        step = buf.strides[0]
        frames = np.lib.stride_tricks.as_strided(
            buf, shape=(n_frames, self._win), strides=(self._hop * step, step), writeable=False
        )
        spectrum = frames @ self._basis
        tone_power = (spectrum.real**2 + spectrum.imag**2) * self._tone_scale
        total = (frames * frames) @ self._window * self._power_scale
        best = tone_power.argmax(axis=1)
        best_power = tone_power.max(axis=1)  # the value at ``best`` (NaN too: both find it)
        voiced = (total > _FLOOR) & (best_power >= _PURITY * total)
        labels: npt.NDArray[np.intp] = np.where(voiced, best, -1)
        return labels

    # Run-length segmentation: a label lasting >= _MIN_RUN hops is a symbol; a run of the same
    # tone as the last symbol, after a gap shorter than _BREAK_HOPS, is that same symbol. Inside
    # an utterance it is the same symbol after any shorter-than-idle gap too: neighbouring
    # symbols never share a tone, so a repeat is the audio having paused (a late frame a
    # phone's playout filled with silence), and a marker repeated before any data is the
    # start marker resumed.
    def _hop_label(self, label: int) -> None:
        if label == self._run_label:
            self._run_len += 1
        else:
            self._run_label = label
            self._run_len = 1
        if label >= 0 and self._run_len == _MIN_RUN:
            if label == self._last_symbol and (
                self._gap < _BREAK_HOPS
                or (self._in_message and (label != _MARK or not self._data_seen))
            ):
                pass  # the same symbol, interrupted by a glitch or a pause
            else:
                self._symbol(label)
            self._last_symbol = label
            self._gap = 0
        if label < 0 or self._run_len < _MIN_RUN:
            self._gap += 1
            if self._gap >= _IDLE_HOPS and self._in_message:
                self._end_message()

    def _quiet_hops(self, count: int) -> None:
        """The state ``count`` calls of ``_hop_label(-1)`` leave, in one step."""
        if count <= 0:
            return
        if self._run_label == -1:
            self._run_len += count
        else:
            self._run_label = -1
            self._run_len = count
        # The gap only grows over quiet hops, so an utterance ends within them exactly when
        # the gap reaches _IDLE_HOPS by their end; ending it touches neither gap nor run.
        self._gap += count
        if self._gap >= _IDLE_HOPS and self._in_message:
            self._end_message()

    def _symbol(self, tone: int) -> None:
        if tone == _MARK:
            if self._in_message:
                self._end_message()
            else:
                self._in_message = True
                self._data_seen = False
                self._prev = 0
                self._high = None
            return
        if not self._in_message:
            return  # data without a start marker: not ours
        self._data_seen = True
        nibble = (tone - self._prev - 1) % _N_DATA
        self._prev = tone
        if nibble > 15:
            nibble = 15  # cannot happen on a clean channel; keep byte alignment
        if self._high is None:
            self._high = nibble
        else:
            byte = (self._high << 4) | nibble
            self._high = None
            self._current += self._decoder.decode(bytes((byte,)))

    def _end_message(self) -> None:
        self._current += self._decoder.decode(b"", final=True)
        self._decoder.reset()
        self._done.append(self._current)
        self._current = ""
        self._in_message = False
        self._high = None


# --- energy VAD -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VadEvent:
    """``kind`` is "start" or "stop"; ``ms`` is input-audio time (ms since the first sample)."""

    kind: str
    ms: int


def threshold_to_power(threshold: float) -> float:
    """Map a 0..1 VAD threshold to a mean-power level: 0 -> -70 dBFS, 0.5 -> -40, 1 -> -10."""
    db = -70.0 + 60.0 * min(max(threshold, 0.0), 1.0)
    return float(10.0 ** (db / 10.0))


class EnergyVad:
    """Frame-energy voice activity detector working in input-audio time.

    Feed samples with :meth:`feed`; it returns the :class:`VadEvent` list the audio caused.
    Speech starts after ``min_speech_ms`` of loud frames; ``start.ms`` is the onset minus
    ``prefix_padding_ms`` (never below 0), as OpenAI reports ``audio_start_ms``. Speech stops after
    ``silence_duration_ms`` of quiet; ``stop.ms`` is the moment that silence was complete (onset of
    silence plus the duration), as OpenAI reports ``audio_end_ms``.
    """

    FRAME_MS = 10

    def __init__(
        self,
        sample_rate: int,
        *,
        threshold: float = 0.5,
        prefix_padding_ms: int = 300,
        silence_duration_ms: int = 500,
        min_speech_ms: int = 30,
        origin_ms: float = 0.0,
    ) -> None:
        self.sample_rate = sample_rate
        self._frame = max(1, sample_rate * self.FRAME_MS // 1000)
        self._skip_quiet = True  # count quiet audio without its power (tests compare both)
        self.configure(threshold, prefix_padding_ms, silence_duration_ms)
        self._min_speech_frames = max(1, math.ceil(min_speech_ms / self.FRAME_MS))
        self._pending = np.zeros(0)
        self._frames_seen = 0  # whole frames analysed so far
        self._origin_ms = origin_ms  # audio time of frame 0 (lets the rate change mid-stream)
        self.speaking = False
        self._loud_run = 0
        self._quiet_run = 0

    def configure(self, threshold: float, prefix_padding_ms: int, silence_duration_ms: int) -> None:
        """Change the settings; takes effect from the next frame."""
        self._level = threshold_to_power(threshold)
        # A frame's mean power is at most its peak squared: audio whose peak is at most this
        # is quiet in every frame (2x margin over rounding), with no power computed.
        self._quiet_peak = math.sqrt(self._level / 2.0)
        self.prefix_padding_ms = max(0, int(prefix_padding_ms))
        self.silence_duration_ms = max(self.FRAME_MS, int(silence_duration_ms))

    def clone(self) -> EnergyVad:
        """An independent copy that continues from exactly this point (its state is immutable
        values and arrays that are replaced, never changed in place)."""
        return copy.copy(self)

    @property
    def audio_ms(self) -> int:
        """Input-audio time analysed so far, in ms."""
        return int(self._origin_ms + self._frames_seen * self.FRAME_MS)

    def _frame_ms(self, index: int) -> int:
        return int(self._origin_ms + index * self.FRAME_MS)

    def feed(self, samples: FloatArray) -> list[VadEvent]:
        """Analyse more audio (floats in -1..1); return the speech starts/stops it contained."""
        buf = np.concatenate((self._pending, samples)) if self._pending.size else samples
        n = buf.size // self._frame
        events: list[VadEvent] = []
        if n:
            whole = buf[: n * self._frame]
            if self._skip_quiet and _peak_at_most(whole, self._quiet_peak):
                self._quiet_frames(n, events)
            else:
                for is_loud in (self._powers(whole, n) > self._level).tolist():
                    self._next_frame(is_loud, events)
        self._pending = buf[n * self._frame :].copy()
        return events

    def _powers(self, whole: FloatArray, n: int) -> FloatArray:
        """The mean power of each of the ``n`` frames of ``whole``: np.mean's own steps (a
        sum, then a division by the count) without its wrapper, so the very same floats."""
        power: FloatArray = np.add.reduce(whole.reshape(n, self._frame) ** 2, axis=1)
        power /= self._frame
        return power

    def _next_frame(self, is_loud: bool, events: list[VadEvent]) -> None:
        """Count one frame, loud or quiet; a speech start or stop goes to ``events``."""
        index = self._frames_seen
        self._frames_seen += 1
        if not self.speaking:
            self._loud_run = self._loud_run + 1 if is_loud else 0
            if self._loud_run >= self._min_speech_frames:
                onset = self._frame_ms(index + 1 - self._loud_run)
                start = max(0, onset - self.prefix_padding_ms)
                events.append(VadEvent("start", start))
                self.speaking = True
                self._quiet_run = 0
        else:
            self._quiet_run = 0 if is_loud else self._quiet_run + 1
            if self._quiet_run * self.FRAME_MS >= self.silence_duration_ms:
                events.append(VadEvent("stop", self._frame_ms(index + 1)))
                self.speaking = False
                self._loud_run = 0

    def _quiet_frames(self, count: int, events: list[VadEvent]) -> None:
        """What ``count`` calls of ``_next_frame(False, events)`` do, in one step."""
        if count <= 0:
            return
        first = self._frames_seen
        self._frames_seen += count
        if self.speaking:
            # Speech stops on the first quiet frame whose run reaches the silence duration
            # (at once if a shorter duration was configured mid-run).
            run_needed = -(-self.silence_duration_ms // self.FRAME_MS)
            to_stop = max(1, run_needed - self._quiet_run)
            if to_stop > count:
                self._quiet_run += count
                return
            self._quiet_run += to_stop
            events.append(VadEvent("stop", self._frame_ms(first + to_stop)))
            self.speaking = False
        self._loud_run = 0

    def force_stop(self) -> VadEvent | None:
        """End speech now (client flushed or committed); returns the stop event, if speaking."""
        if not self.speaking:
            return None
        self.speaking = False
        self._loud_run = 0
        return VadEvent("stop", self.audio_ms)

    def reset_state(self) -> None:
        """Drop speech state (not the clock): what follows starts from silence."""
        self.speaking = False
        self._loud_run = 0
        self._quiet_run = 0

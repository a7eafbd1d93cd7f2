"""Prometheus metrics for phone calls: a :class:`~adk_realtime.call_observer.CallObserver`.

Needs ``prometheus_client`` (``pip install 'adk-realtime[metrics]'``); this module
imports it when a :class:`PrometheusMetrics` is made, and the phone server makes one
only when the package is there (without it ``/metrics`` answers 404 saying so).

Figures (all prefixed ``adk_realtime_``)::

    active_calls                      gauge      calls being bridged now
    active_provider_sessions          gauge      their provider sessions connected now
    serving_processes                 gauge      server processes up (workers)
    draining                          gauge      processes draining (shutting down)
    calls_total{carrier,outcome}      counter    ended calls by outcome, and refusals
                                                 (refused_draining, refused_full)
    time_to_first_audio_seconds       histogram  caller stops speaking -> model's first audio
    tool_latency_seconds{tool,outcome} histogram tool calls (ok, error, timeout)
    errors_total{kind}                counter    model_error, carrier_error, bad_message,
                                                 a provider's error code
    rollovers_total, resumptions_total counter   provider sessions replaced
    audio_dropped_frames_total,
    audio_dropped_bytes_total         counter    model audio dropped unsent (queue full)

Labels hold only names the code chose (carrier, outcome, kind, tool): never a caller's
number, a call id or a secret.

Worker processes: with ``PROMETHEUS_MULTIPROC_DIR`` set (the supervisor in
:mod:`adk_realtime.serving` sets it for its workers) every process writes its figures to
files there and each ``/metrics`` answer sums them over all workers
(``prometheus_client``'s multiprocess mode; gauges count live processes only). So a
scrape that lands on any worker sees the whole host.
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING, Any, Literal

from adk_realtime.call_observer import NullObserver, RefusalReason

if TYPE_CHECKING:  # types only: call_bridge imports this module (a cycle)
    from adk_realtime.call_bridge import CallInfo

__all__ = ["METRICS_MISSING", "PrometheusMetrics", "prometheus_available"]

METRICS_MISSING = (
    "metrics need the prometheus_client package: pip install 'adk-realtime[metrics]'\n"
)
"""The body of ``/metrics`` (404) when ``prometheus_client`` is not installed."""

_FIRST_AUDIO_BUCKETS = (0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0)
_TOOL_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_LABEL = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,47}")


def prometheus_available() -> bool:
    """Whether ``prometheus_client`` can be imported."""
    try:
        import prometheus_client  # noqa: F401  (lazy: an optional extra)
    except ImportError:
        return False
    return True


def _label(value: str, default: str = "other") -> str:
    return value if _LABEL.fullmatch(value) else default


class PrometheusMetrics(NullObserver):
    """A call observer that keeps the figures above and renders them (:meth:`render`).

    ``registry``: where the metrics are registered (a fresh ``CollectorRegistry`` unless
    given). In multiprocess mode (``PROMETHEUS_MULTIPROC_DIR`` set) the figures live in
    that folder's files and :meth:`render` sums every process's.
    """

    def __init__(self, registry: Any = None) -> None:
        import prometheus_client as prom  # lazy: an optional extra

        self._prom = prom
        self.multiprocess_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None
        self.registry = registry if registry is not None else prom.CollectorRegistry()
        where = None if self.multiprocess_dir else self.registry

        def gauge(name: str, doc: str) -> Any:
            return prom.Gauge(name, doc, registry=where, multiprocess_mode="livesum")

        def counter(name: str, doc: str, labels: tuple[str, ...] = ()) -> Any:
            return prom.Counter(name, doc, labels, registry=where)

        self.active_calls = gauge("adk_realtime_active_calls", "Calls being bridged now.")
        self.active_sessions = gauge(
            "adk_realtime_active_provider_sessions", "Provider sessions of calls connected now."
        )
        self.processes_gauge = gauge(
            "adk_realtime_serving_processes", "Server processes up (each worker counts 1)."
        )
        self.processes_gauge.set(1)
        self.draining_gauge = gauge(
            "adk_realtime_draining", "Server processes draining (taking no new call)."
        )
        self.calls = counter(
            "adk_realtime_calls", "Calls ended, by outcome, and refused.", ("carrier", "outcome")
        )
        self.first_audio_seconds = prom.Histogram(
            "adk_realtime_time_to_first_audio_seconds",
            "From the caller's end of speech (or the session's start) to the model's first audio.",
            buckets=_FIRST_AUDIO_BUCKETS,
            registry=where,
        )
        self.tool_seconds = prom.Histogram(
            "adk_realtime_tool_latency_seconds",
            "Tool calls, from the model's request to the result.",
            ("tool", "outcome"),
            buckets=_TOOL_BUCKETS,
            registry=where,
        )
        self.errors = counter("adk_realtime_errors", "Errors by kind.", ("kind",))
        self.rollovers = counter("adk_realtime_rollovers", "Provider sessions rolled over.")
        self.resumptions = counter("adk_realtime_resumptions", "Provider sessions resumed.")
        self.dropped_frames = counter(
            "adk_realtime_audio_dropped_frames", "Model audio frames (20 ms) dropped unsent."
        )
        self.dropped_bytes = counter(
            "adk_realtime_audio_dropped_bytes", "Model audio bytes (μ-law) dropped unsent."
        )

    # -- the observer ----------------------------------------------------------------

    def call_started(self, info: CallInfo) -> None:
        self.active_calls.inc()

    def call_refused(self, carrier: str, reason: RefusalReason) -> None:
        self.calls.labels(_label(carrier), f"refused_{reason}").inc()

    def draining(self) -> None:
        self.draining_gauge.set(1)

    def session_opened(self, info: CallInfo) -> None:
        self.active_sessions.inc()

    def session_closed(self, info: CallInfo) -> None:
        self.active_sessions.dec()

    def first_audio(self, info: CallInfo, seconds: float) -> None:
        self.first_audio_seconds.observe(seconds)

    def tool_done(self, info: CallInfo, name: str, seconds: float, outcome: str) -> None:
        self.tool_seconds.labels(_label(name), _label(outcome)).observe(seconds)

    def error(self, info: CallInfo | None, kind: str) -> None:
        self.errors.labels(_label(kind)).inc()

    def rollover(self, info: CallInfo, kind: Literal["rollover", "resumption"], count: int) -> None:
        (self.rollovers if kind == "rollover" else self.resumptions).inc(count)

    def audio_dropped(self, info: CallInfo, frames: int, nbytes: int) -> None:
        self.dropped_frames.inc(frames)
        self.dropped_bytes.inc(nbytes)

    def call_ended(self, info: CallInfo | None, carrier: str, outcome: str) -> None:
        if info is not None:
            self.active_calls.dec()
        self.calls.labels(_label(carrier), _label(outcome)).inc()

    # -- the endpoint ------------------------------------------------------------------

    def render(self) -> tuple[bytes, str]:
        """The exposition text and its content type (every worker's sum in multiprocess
        mode)."""
        prom = self._prom
        if self.multiprocess_dir:
            from prometheus_client import multiprocess  # lazy: an optional extra

            registry = prom.CollectorRegistry()
            multiprocess.MultiProcessCollector(registry, path=self.multiprocess_dir)  # type: ignore[no-untyped-call]
            return prom.generate_latest(registry), prom.CONTENT_TYPE_LATEST
        return prom.generate_latest(self.registry), prom.CONTENT_TYPE_LATEST

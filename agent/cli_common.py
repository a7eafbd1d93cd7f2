"""What the ``adk-realtime`` commands share: the demo assistant, the console, one-line errors.

``cli`` (demo, sim, talk) and ``cli_phone`` (phone serve, phone call) both build the
same weather assistant and print the same ``[kind] text`` lines (or JSON lines).
"""

from __future__ import annotations

import errno
import json
import socket
import sys
from pathlib import Path
from typing import Any

from adk_realtime.agent import RealtimeAgent
from adk_realtime.models import RealtimeModel
from adk_realtime.tools import function_tool

__all__ = [
    "DEMO_QUESTION",
    "Console",
    "build_assistant",
    "cannot_serve",
    "check_writable",
    "get_weather",
]

DEMO_QUESTION = "What is the weather in Paris?"


@function_tool
def get_weather(city: str) -> dict[str, Any]:
    """Current weather for a city.

    Args:
        city: The city name, e.g. Paris.
    """
    table = {"paris": (18, "sunny"), "london": (12, "cloudy"), "tokyo": (22, "clear")}
    temp, sky = table.get(city.strip().lower(), (20, "mild"))
    return {"city": city, "temperature_c": temp, "conditions": sky}


def build_assistant(model: RealtimeModel) -> RealtimeAgent:
    return (
        RealtimeAgent.builder("voice_assistant")
        .model(model)
        .instruction("You are a helpful voice assistant. Use get_weather for weather questions.")
        .voice(model.default_voice)
        .server_vad()
        .tool(get_weather)
        .input_transcription()
        .build()
    )


class Console:
    """Prints the live view: plain lines (rich when installed) or JSON lines."""

    def __init__(self, json_mode: bool) -> None:
        self.json_mode = json_mode
        self._rich: Any = None
        if not json_mode:
            try:
                from rich.console import Console as RichConsole

                # soft_wrap: long lines (URLs, JSON) are left for the terminal to wrap, whole
                self._rich = RichConsole(highlight=False, soft_wrap=True)
            except ImportError:
                self._rich = None

    def event(self, kind: str, text: str = "", **data: Any) -> None:
        if self.json_mode:
            print(json.dumps({"event": kind, "text": text, **data}), flush=True)
            return
        styles = {
            "user": "bold cyan",
            "caller": "bold cyan",
            "assistant": "bold green",
            "tool": "bold yellow",
            "info": "dim",
            "error": "bold red",
        }
        label = f"[{kind}]"
        self._clear_meter()
        if self._rich is not None:
            from rich.markup import escape

            style = styles.get(kind, "default")  # "[]" would be a markup error in rich
            self._rich.print(f"[{style}]{escape(label)}[/{style}] {escape(text)}")
        else:
            print(f"{label} {text}", flush=True)

    _meter_shown = False

    def level(self, rms_db: float) -> None:
        """A one-line input level meter, redrawn in place (terminals only)."""
        if self.json_mode or not sys.stderr.isatty():
            return
        bars = max(0, min(30, int((rms_db + 60) / 2)))
        sys.stderr.write(f"\r  mic {'#' * bars}{' ' * (30 - bars)} {rms_db:6.1f} dBFS")
        sys.stderr.flush()
        self._meter_shown = True

    def _clear_meter(self) -> None:
        if self._meter_shown:
            sys.stderr.write("\r" + " " * 50 + "\r")
            sys.stderr.flush()
            self._meter_shown = False


def check_writable(path: Path, option: str) -> None:
    """Fail now, before any exchange, if ``path`` cannot be written (and create nothing)."""
    try:
        if path.exists():
            with path.open("ab"):
                pass
        else:
            with path.open("xb"):
                pass
            path.unlink()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise SystemExit(
            f"{option} {path}: cannot write there ({reason}); give another path"
        ) from None


def cannot_serve(host: str, port: int, exc: OSError) -> str:
    """One line for a failed ``sim`` listen, with the advice that fits the cause."""
    where = f"cannot serve on {host}:{port}"
    if isinstance(exc, socket.gaierror):
        return f"{where}: unknown host name {host!r} (give --host an address, e.g. 127.0.0.1)"
    if exc.errno == errno.EADDRINUSE:
        advice = "pick another port with --port, or --port 0 for any free one"
    elif exc.errno == errno.EADDRNOTAVAIL:
        advice = (
            f"{host} is not an address of this machine: --host 127.0.0.1 serves this machine "
            "only, 0.0.0.0 every network interface"
        )
    elif exc.errno == errno.EACCES:
        advice = "ports below 1024 need privileges: pick another with --port"
    else:
        advice = "check --host and --port"
    return f"{where}: {exc.strerror or exc} ({advice})"

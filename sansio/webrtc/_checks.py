"""One way for the WebRTC machines to refuse a bad constructor or configuration value."""

from __future__ import annotations

from adk_realtime.sansio.errors import ConfigError

__all__ = ["require"]


def require(field: str, ok: bool, requirement: str, value: object) -> None:
    """Raise ``ConfigError(field, "must be <requirement>, not <value>")`` unless ``ok``.

    ``value`` is what the message shows (``repr``): pass a length or a description
    instead of the value itself for credentials and keys.
    """
    if not ok:
        raise ConfigError(field, f"must be {requirement}, not {value!r}")

"""Telephone calls: the carriers' media-stream protocols as sans-IO machines.

``events`` (what a carrier stream tells us), ``playback`` (what the caller heard),
``media_stream`` (the machine the carriers share) and one module per carrier:
``twilio``, ``telnyx``, ``plivo``.
"""

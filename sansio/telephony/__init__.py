"""Telephone calls, the sans-IO parts.

The carriers' media-stream protocols as machines: ``events`` (what a carrier stream
tells us), ``playback`` (what the caller heard), ``media_stream`` (the machine the
carriers share) and one module per carrier: ``twilio``, ``telnyx``, ``plivo``.
Webhook ``signatures`` (Twilio, Telnyx, Plivo, OpenAI) and ``openai_sip`` (OpenAI's
SIP connector: the incoming-call webhook and the call-control requests).
"""

"""SIP calls answered directly, the sans-IO parts.

``message`` (RFC 3261 messages: parse, serialise, header values), ``digest`` (RFC
2617/7616 digest authentication of the caller), ``uas`` (the user agent server: the
transactions, dialogs and timers of answering calls, over datagrams), ``sdp_audio``
(the audio offer/answer: PCMU, PCMA, telephone-event) and ``rtp_session`` (one call's
G.711 RTP: stable numbering, a jitter buffer, RFC 4733 DTMF, symmetric RTP). The
agent layer's ``sip_server`` and ``sip_call`` join them to the call bridge.
"""

"""Telephony: the sans-IO parts of phone calls (carriers, webhook signatures, SIP)."""

"""The plain STUN Binding request that gathering and the audit send to a server."""

from __future__ import annotations

from aioice import stun


def binding_request() -> stun.Message:
    """A Binding request with a FINGERPRINT (RFC 8489 §14.7), as browsers send."""
    request = stun.Message(message_method=stun.Method.BINDING, message_class=stun.Class.REQUEST)
    request.add_fingerprint()
    return request

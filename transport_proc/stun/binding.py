"""The STUN Binding request that gathering, its NAT tests and the audit send to a server."""

from __future__ import annotations

from aioice import stun


def binding_request(change: int = 0) -> stun.Message:
    """A Binding request with a FINGERPRINT (RFC 8489 §14.7), as browsers send; with ``change``,
    RFC 5780's CHANGE-REQUEST asks the server to answer from another IP address or port (its
    bits), before the FINGERPRINT, which comes last."""
    request = stun.Message(message_method=stun.Method.BINDING, message_class=stun.Class.REQUEST)
    if change:
        request.attributes["CHANGE-REQUEST"] = change
    request.add_fingerprint()
    return request

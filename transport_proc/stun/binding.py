"""The STUN Binding request that gathering, its NAT tests and the audit send to a server."""

from __future__ import annotations

from aioice import stun

from icegather.transport_proc.stun.requests import Request


def binding_request(change: int = 0) -> Request:
    """A Binding request with a FINGERPRINT (RFC 8489 §14.7), as browsers send; with ``change``,
    RFC 5780's CHANGE-REQUEST asks the server to answer from another IP address or port (its
    bits), before the FINGERPRINT, which comes last."""
    request = Request(stun.Method.BINDING)
    if change:
        request.attributes["CHANGE-REQUEST"] = change
    request.seal()
    return request

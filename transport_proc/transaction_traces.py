"""A transaction as the trace reports it (``TransactionTraceInfo``), from what ``transact``
saw: pure."""

from __future__ import annotations

from aioice import stun

from icegather.shared.endpoints import Address
from icegather.shared.structs import TransactionTraceInfo
from icegather.transport_proc import failures
from icegather.transport_proc.transaction import Transacted

METHOD_NAMES = {
    stun.Method.BINDING: "Binding",
    stun.Method.ALLOCATE: "Allocate",
    stun.Method.REFRESH: "Refresh",
    stun.Method.CREATE_PERMISSION: "CreatePermission",
    stun.Method.CHANNEL_BIND: "ChannelBind",
}


def trace_info(done: Transacted, url: str, local: Address, server: Address, started: float) -> TransactionTraceInfo:
    """``done`` for the gathering that started at ``started`` (``time.monotonic()``)."""

    def ms(at: float) -> float:
        return round(max(0.0, at - started) * 1000, 3)

    cause: str
    if done.response is None:
        assert done.failure is not None
        outcome, code, cause = "failed", done.failure.code, done.failure.cause
    elif done.response.message_class == stun.Class.RESPONSE:
        outcome, code, cause = "answer", 0, ""
    else:
        outcome, code, cause = "error", failures.error_response(done.response, server).code, ""
        if code >= 700:  # an error response without a usable code counts as no usable answer
            outcome, cause = "failed", "malformed_response"
    return TransactionTraceInfo(
        url=url,
        address=local[0],
        port=local[1],
        server_address=server[0],
        server_port=server[1],
        method=METHOD_NAMES[done.request.message_method],
        sends_ms=tuple(ms(at) for at in done.sends),
        ended_ms=ms(done.ended),
        outcome=outcome,
        error_code=code,
        cause=cause,
        rtt_ms=round(done.rtt * 1000, 3) if done.rtt is not None and outcome != "failed" else None,
    )

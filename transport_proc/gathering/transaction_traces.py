"""What the trace reports (``TransactionTraceInfo``): a transaction, from what ``transact``
saw; a TCP or TLS connection that failed before any transaction ("Connect"); and the relay
check's probes ("ProbeOut", "ProbeBack": an arrived probe is an answer, its RTT the one-way
delay; a lost one failed). Pure."""

from __future__ import annotations

from aioice import stun

from icegather.shared.net.endpoints import Address
from icegather.shared.structs import TransactionTraceInfo
from icegather.transport_proc.relay.probes import ProbeLog
from icegather.transport_proc.stun import failures
from icegather.transport_proc.stun.failures import AttemptFailed
from icegather.transport_proc.stun.transaction import Transacted

METHOD_NAMES = {
    stun.Method.BINDING: "Binding",
    stun.Method.ALLOCATE: "Allocate",
    stun.Method.REFRESH: "Refresh",
    stun.Method.CREATE_PERMISSION: "CreatePermission",
    stun.Method.CHANNEL_BIND: "ChannelBind",
}


def since(started: float, at: float) -> float:
    """``at`` in ms since ``started`` (both ``time.monotonic()``)."""
    return round(max(0.0, at - started) * 1000, 3)


def trace_info(done: Transacted, url: str, local: Address, server: Address, started: float) -> TransactionTraceInfo:
    """``done`` for the gathering that started at ``started`` (``time.monotonic()``)."""
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
        sends_ms=tuple(since(started, at) for at in done.sends),
        ended_ms=since(started, done.ended),
        outcome=outcome,
        error_code=code,
        cause=cause,
        rtt_ms=round(done.rtt * 1000, 3) if done.rtt is not None and outcome != "failed" else None,
    )


def connect_trace(
    url: str, failure: AttemptFailed, server: Address, tried_at: float, ended_at: float, started: float
) -> TransactionTraceInfo:
    """A TCP or TLS connection to the server that failed (its local socket is the failure's)."""
    assert failure.local_address is not None
    local = failure.local_address
    return TransactionTraceInfo(
        url, local[0], local[1], server[0], server[1], "Connect", (since(started, tried_at),),
        since(started, ended_at), "failed", failure.code, failure.cause, None,
    )


def probe_traces(
    log: ProbeLog, url: str, local: Address, relayed: Address, ended_at: float, started: float
) -> list[TransactionTraceInfo]:
    """One record per probe of a relay check, in the order they were sent."""
    traces = []
    for (direction, index), sent in sorted(log.sent.items(), key=lambda item: item[1]):
        arrived = log.arrived.get((direction, index))
        method = "ProbeOut" if direction == "out" else "ProbeBack"
        if arrived is None:
            outcome, code, cause, end, rtt = "failed", 701, "no_response", ended_at, None
        else:
            outcome, code, cause, end, rtt = "answer", 0, "", arrived, round((arrived - sent) * 1000, 3)
        traces.append(TransactionTraceInfo(
            url, local[0], local[1], relayed[0], relayed[1], method, (since(started, sent),),
            since(started, max(end, sent)), outcome, code, cause, rtt,
        ))
    return traces

"""What a relay check's facts mean, as data: one ``RelayOutcome`` per checked allocation.

The transport reports facts (``RelayCheckInfo``: probes sent and received in each direction,
where the relay's data came from, which request failed); this pure function names the outcome
that the event, the NDJSON record and the diagnosis table all use. The order of the tests is
the order of precedence: a refused request explains everything after it, and data from the
wrong address explains the direction that fails with it.
"""

from __future__ import annotations

from typing import Literal, get_args

from icegather.shared.structs import RelayCheckInfo

RelayOutcome = Literal[
    "works",  # data went out to the peer and came back, from the advertised relayed address
    "wrong_source",  # data reached the peer from another address than the advertised one
    "out_only",  # data reached the peer; nothing sent to the relayed address came back
    "back_only",  # data sent to the relayed address came back; nothing reached the peer
    "no_data",  # no probe got through in either direction
    "refused",  # the server answered CreatePermission or ChannelBind with an error code
    "request_failed",  # CreatePermission or ChannelBind got no usable answer (7xx)
    "not_checked",  # no probe could be sent (no local socket of the relay's address family)
]

RELAY_OUTCOMES: tuple[RelayOutcome, ...] = get_args(RelayOutcome)
# The outcomes that mean the relay does not carry a call's media.
BROKEN: frozenset[RelayOutcome] = frozenset(RELAY_OUTCOMES) - {"works", "not_checked"}


def relay_outcome(info: RelayCheckInfo) -> RelayOutcome:
    if info.error_code:
        return "refused" if info.error_code < 700 else "request_failed"
    if info.probes == 0:
        return "not_checked"
    advertised = (info.relayed_address, info.relayed_port)
    if info.out_received and (info.out_source_address, info.out_source_port) != advertised:
        return "wrong_source"
    if info.out_received and info.back_received:
        return "works"
    if info.out_received:
        return "out_only"
    if info.back_received:
        return "back_only"
    return "no_data"

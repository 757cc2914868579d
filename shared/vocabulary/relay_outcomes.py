"""What a relay check's facts mean, as data: one ``RelayOutcome`` per checked allocation.

The transport reports facts (``RelayCheckInfo``: probes sent and received in each direction,
with each mechanism a browser uses, where the relay's data came from, which request failed);
this pure function names the outcome that the event, the NDJSON record and the diagnosis table
all use. The order of the tests is the order of precedence: an allocation the server dropped
during the check explains everything measured on it; then a CreatePermission that failed
explains everything after it; data measured lost comes before a ChannelBind answer that could
not be used, since the data is what a call loses.
"""

from __future__ import annotations

from typing import Literal, get_args

from icegather.shared.structs import RelayCheckInfo
from icegather.shared.vocabulary.meaning import Meaning

RelayOutcome = Literal[
    "works", "allocation_lost", "wrong_source", "out_only", "back_only", "no_data", "reflected",
    "indication_out_dropped", "indication_back_dropped", "channel_out_dropped", "channel_back_dropped", "refused",
    "request_failed", "channel_bind_failed", "not_checked",
]

RELAY_OUTCOMES: tuple[RelayOutcome, ...] = get_args(RelayOutcome)
# What each outcome means (``icegather explain``); for a broken relay, what to do is the diagnosis
# cause's it leads to (``RELAY_CAUSES``).
RELAY_OUTCOME_MEANINGS: dict[RelayOutcome, Meaning] = {
    "works": Meaning("data went out to the peer and came back with each mechanism, from the advertised relayed "
                     "address", "nothing"),
    "allocation_lost": Meaning("the server dropped the allocation during the check: CreatePermission or "
                               "ChannelBind got 437 Allocation Mismatch, or 438 Stale Nonce and then a failure, "
                               "for an allocation made moments before"),
    "wrong_source": Meaning("data reached the peer from another address than the advertised one"),
    "out_only": Meaning("data reached the peer; nothing sent to the relayed address came back"),
    "back_only": Meaning("data sent to the relayed address came back; nothing reached the peer"),
    "no_data": Meaning("no probe got through in either direction"),
    "reflected": Meaning("no probe got through, but probes came back to the end that sent them (or by a wrong "
                         "route)"),
    "indication_out_dropped": Meaning("Send indications never reached the peer (ChannelData did)"),
    "indication_back_dropped": Meaning("before ChannelBind, nothing the peer sent came back (later data did)"),
    "channel_out_dropped": Meaning("ChannelData from the client never reached the peer (Send indications did)"),
    "channel_back_dropped": Meaning("once the channel was bound, nothing the peer sent came back (earlier data "
                                    "did)"),
    "refused": Meaning("the server answered CreatePermission or ChannelBind with an error code"),
    "request_failed": Meaning("CreatePermission got no usable answer (7xx): nothing was probed"),
    "channel_bind_failed": Meaning("ChannelBind got no usable answer (7xx); the data facts before it stand"),
    "not_checked": Meaning("no probe was sent", "what its notCheckedReason says"),
}
# The error codes that say the server no longer holds the allocation (``allocation_lost``): 437
# Allocation Mismatch, and 438 Stale Nonce on a session seconds old, which is how coturn
# answers the next request of a session it has closed (and 400 once the new nonce is used).
ALLOCATION_GONE_CODES: tuple[int, ...] = (437, 438)
# The outcomes that mean the relay does not carry a call's media.
BROKEN: frozenset[RelayOutcome] = frozenset(RELAY_OUTCOMES) - {"works", "not_checked"}
# The outcomes after which a relay's quality stream runs: some probes got through each way with
# a mechanism (a "..._dropped" outcome names the other one as dead). The transport starts the
# streams by it, and the main process counts the streams to wait for by it.
CARRIES_DATA: frozenset[RelayOutcome] = frozenset({
    "works", "indication_out_dropped", "indication_back_dropped", "channel_out_dropped", "channel_back_dropped",
})

# How data goes through a relay: Send and Data indications, then ChannelData once a channel is
# bound (RFC 8656 sections 11 and 12). Browsers use both, so each must work both ways.
Mechanism = Literal["indication", "channel"]
MECHANISMS: tuple[Mechanism, ...] = get_args(Mechanism)

NotCheckedReason = Literal[
    "no_local_address", "socket_failed", "relayed_out_of_scope", "relayed_not_unicast", "internal_error"
]
NOT_CHECKED_REASONS: tuple[NotCheckedReason, ...] = get_args(NotCheckedReason)
NOT_CHECKED_REASON_MEANINGS: dict[NotCheckedReason, Meaning] = {
    "no_local_address": Meaning("no local address of the relayed address's family for the peer socket",
                                "gather from a local address of that family too (or let icegather use all)"),
    "socket_failed": Meaning("the peer socket could not be opened", "this machine's limits on open sockets"),
    "relayed_out_of_scope": Meaning(
        "the relayed address is in another scope (loopback, private, public...) than the server's own address: "
        "no probe is sent where a server points outside its own scope, as a hostile one could point at this "
        "machine's network",
        "the relayed address the server advertises (behind a NAT, it must be told the public one)",
    ),
    "relayed_not_unicast": Meaning("the relayed address is multicast, unspecified or reserved: no peer can use it",
                                   "the relayed address the server advertises"),
    "internal_error": Meaning("the check's report broke its own schema: a bug in icegather, logged",
                              "the traceback the transport wrote to stderr; please report it"),
}


def mechanism_counts(info: RelayCheckInfo, mechanism: Mechanism) -> tuple[int, int, int]:
    """Probes sent each way with ``mechanism``, and how many arrived out and back."""
    if mechanism == "indication":
        return info.indication_probes, info.indication_out_received, info.indication_back_received
    return info.channel_probes, info.channel_out_received, info.channel_back_received


def dead_path(info: RelayCheckInfo) -> RelayOutcome | None:
    """The first mechanism and direction that carried none of its probes, when others did."""
    for mechanism in MECHANISMS:
        probes, out, back = mechanism_counts(info, mechanism)
        if probes and not out:
            return "indication_out_dropped" if mechanism == "indication" else "channel_out_dropped"
        if probes and not back:
            return "indication_back_dropped" if mechanism == "indication" else "channel_back_dropped"
    return None


def relay_outcome(info: RelayCheckInfo) -> RelayOutcome:
    if info.failed_request and info.error_cause == "server_error" and info.error_code in ALLOCATION_GONE_CODES:
        return "allocation_lost"
    if info.failed_request == "CreatePermission":
        return "refused" if info.error_code < 700 else "request_failed"
    if info.probes == 0:
        return "not_checked"
    advertised = (info.relayed_address, info.relayed_port)
    if info.out_received and (info.out_source_address, info.out_source_port) != advertised:
        return "wrong_source"
    if not info.out_received and not info.back_received:
        return "reflected" if info.stray_probes else "no_data"
    if not info.back_received:
        return "out_only"
    if not info.out_received:
        return "back_only"
    dead = dead_path(info)
    if dead is not None:
        return dead
    if info.failed_request == "ChannelBind":
        return "refused" if info.error_code < 700 else "channel_bind_failed"
    return "works"

"""Why a relay does not carry data: the ``RELAY_CAUSES`` table, from the relay check's outcome
(``shared.vocabulary.relay_outcomes``) and, for a refused request, the server's code. What to check is
said in the words of the server's product when its SOFTWARE names one (``server_products``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from icegather.main_proc.diagnosis.server_products import Wording, phrased
from icegather.main_proc.diagnosis.servers.outcomes import Finding, ServerOutcome
from icegather.shared.net.endpoints import endpoint
from icegather.shared.vocabulary.relay_outcomes import RelayOutcome


@dataclass(frozen=True)
class RelayCause:
    """A row of the relay cause table: the relay check outcomes (and, for a refused request, the
    server's codes) it explains, and what it says. Placeholders: {relayed}, {source},
    {request}, {code}, {text}, {icmp}, {back}, {probes}, {stray}, and {indications} and
    {channels} (what each mechanism carried each way), from the check's record."""

    name: str
    outcomes: frozenset[RelayOutcome]
    finding: str
    next_check: Wording
    codes: frozenset[int] | None = None  # None: any

    def explains(self, check: Mapping[str, Any]) -> bool:
        return check["outcome"] in self.outcomes and (self.codes is None or check["errorCode"] in self.codes)


def _outcome(*outcomes: RelayOutcome) -> frozenset[RelayOutcome]:
    return frozenset(outcomes)


# What the relay's handling of each mechanism is, said of any server (RFC 8656).
INDICATIONS = Wording("the server's handling of Send and Data indications (RFC 8656 section 11)")
CHANNELS = Wording("the server's ChannelData handling (RFC 8656 section 12)")
# The parts of a relay's setup that the next checks below name, in each product's words.
EXTERNAL_IP = Wording(
    "the relayed address the server advertises (behind a NAT, it must be told the public one)",
    {
        "coturn": "coturn's external-ip (the public address, as public/private, when the relay-ip is behind a NAT)",
        "pion": "the RelayAddress of Pion's RelayAddressGenerator (the public address; Address is where it "
                "listens)",
        "node-turn": "node-turn's externalIps (the public address of each relay IP behind a NAT)",
    },
)
RELAY_IP = Wording(
    "the addresses the server relays from",
    {
        "coturn": "coturn relay-ip",
        "pion": "the generator's Address, where the relay listens",
        "node-turn": "node-turn relayIps",
    },
)
RELAY_PORTS = Wording(
    "firewalls for UDP to and from the server's relay port range",
    {
        "coturn": "firewalls for UDP to and from the relay port range (coturn min-port..max-port)",
        "pion": "firewalls for UDP to and from the relay ports (the MinPort..MaxPort of Pion's "
                "RelayAddressGeneratorPortRange; any port with another generator)",
        "node-turn": "firewalls for UDP to and from the relay port range (node-turn minPort..maxPort)",
    },
)

RELAY_CAUSES: tuple[RelayCause, ...] = (
    RelayCause(
        "relay allocation lost",
        _outcome("allocation_lost"),
        "the server dropped the allocation during the check: {request} got {code} {text}, moments after the "
        "allocation succeeded; a call's relay would go the same way",
        Wording(
            "the server's log (why it closed the session), its session timeouts and its per-user and total "
            "allocation quotas",
            {
                "coturn": "coturn's log (its 'closed' line for this session gives the reason; coturn closes a "
                          "session when a send to the client or a peer fails), its session timeouts "
                          "(max-allocate-lifetime, max-allocate-timeout) and quotas (user-quota, total-quota)",
            },
        ),
    ),
    RelayCause(
        "relay wrong address",
        _outcome("wrong_source"),
        "the relay sends from {source}, not from the relayed address {relayed} it advertises, where "
        "{back} of {probes} probes from the peer arrived{icmp}",
        EXTERNAL_IP,
    ),
    RelayCause(
        "relay not back",
        _outcome("out_only"),
        "data went out through the relay, but data sent to the relayed address {relayed} never came back{icmp}",
        phrased("that {relayed} is this server's public address ({external}), and {ports}", external=EXTERNAL_IP,
                ports=RELAY_PORTS),
    ),
    RelayCause(
        "relay not out",
        _outcome("back_only"),
        "data sent to the relayed address {relayed} came back, but the relay never delivered data to the peer",
        phrased("the server's outbound filtering of relayed data, and {ports}", ports=RELAY_PORTS),
    ),
    RelayCause(
        "relay carries nothing",
        _outcome("no_data"),
        "the allocation works, but no data went through the relay {relayed} either way{icmp}",
        phrased("that {relayed} is reachable ({external}; {relay_ip}), and {ports}", external=EXTERNAL_IP,
                relay_ip=RELAY_IP, ports=RELAY_PORTS),
    ),
    RelayCause(
        "relay reflects data",
        _outcome("reflected"),
        "no data went through the relay {relayed}, but {stray} probes came back to the end that sent them or by "
        "a route the relay must not take{icmp}",
        Wording("whether this URL reaches a TURN server at all (not an echo service or a STUN-only server), and its "
                "log"),
    ),
    RelayCause(
        "send indications dropped",
        _outcome("indication_out_dropped"),
        "the relay {relayed} never delivered data sent in Send indications to the peer ({indications}), though "
        "ChannelData went through ({channels}): a browser's first data to a peer is lost",
        INDICATIONS,
    ),
    RelayCause(
        "data indications missing",
        _outcome("indication_back_dropped"),
        "data sent to the relayed address {relayed} before the channel was bound never came back in Data "
        "indications ({indications}), though it did on the channel ({channels})",
        INDICATIONS,
    ),
    RelayCause(
        "channel data dropped",
        _outcome("channel_out_dropped"),
        "the relay {relayed} drops the ChannelData the client sends ({channels}), though Send indications went "
        "through ({indications}): browsers switch to ChannelData after ChannelBind, so a call's media is lost",
        CHANNELS,
    ),
    RelayCause(
        "channel carries nothing back",
        _outcome("channel_back_dropped"),
        "once the channel was bound, nothing sent to the relayed address {relayed} came back ({channels}), though "
        "it did before ({indications}): a call's incoming media is lost",
        CHANNELS,
    ),
    RelayCause(
        "channel bind unusable",
        _outcome("channel_bind_failed"),
        "ChannelBind got no usable answer: {text}; Send and Data indications carried data ({indications}), but "
        "a browser that cannot bind its channel to the peer loses it",
        Wording("the server's ChannelBind responses: a success must carry MESSAGE-INTEGRITY and the request's "
                "transaction ID (RFC 8656 section 12.1, RFC 8489 section 9.2)"),
    ),
    RelayCause(
        "peer forbidden",
        _outcome("refused"),
        "the server refused {request} for the peer: {code} {text}",
        Wording(
            "the server's peer address rules (which peers it refuses; many refuse loopback peers by default)",
            {
                "coturn": "the server's peer address rules (coturn denied-peer-ip / allowed-peer-ip; "
                          "no-loopback-peers, which coturn sets by default, for a peer on this machine's loopback)",
                "pion": "the PermissionHandler of Pion's PacketConnConfig or ListenerConfig: it refused this peer",
            },
        ),
        codes=frozenset({403}),
    ),
    RelayCause(
        "relay request refused",
        _outcome("refused"),
        "the server answered {request} with {code} {text}",
        Wording("the server's log"),
    ),
    RelayCause(
        "relay request unanswered",
        _outcome("request_failed"),
        "{request} on the allocation got no usable answer: {text}",
        Wording("the server's log: it allocated, then stopped answering"),
    ),
)


def carried(check: Mapping[str, Any], mechanism: str) -> str:
    """What one mechanism carried each way, from the check's record."""
    probes = check[f"{mechanism}Probes"]
    return f"{check[f'{mechanism}OutReceived']} of {probes} out, {check[f'{mechanism}BackReceived']} of {probes} back"


def explain_relay(outcome: ServerOutcome, check: Mapping[str, Any]) -> Finding:
    """The first row of ``RELAY_CAUSES`` that explains a broken relay (one of the outcome's
    relay checks, its record)."""
    cause = next(row for row in RELAY_CAUSES if row.explains(check))
    back_cause = check["backCause"]
    values = {
        "relayed": endpoint((check["relayedAddress"], check["relayedPort"])),
        "source": endpoint((check["outSourceAddress"], check["outSourcePort"])) if check["outSourceAddress"] else "",
        "request": check["failedRequest"],
        "code": check["errorCode"],
        "text": check["errorText"],
        "icmp": f" (ICMP: {back_cause.replace('_', ' ')})" if back_cause else "",
        "back": check["backReceived"],
        "probes": check["probes"],
        "stray": check["strayProbes"],
        "indications": carried(check, "indication"),
        "channels": carried(check, "channel"),
    }
    next_check = cause.next_check.said_for(outcome.product).format(**values)
    return Finding(outcome.url, cause.name, cause.finding.format(**values), next_check, outcome.entry)

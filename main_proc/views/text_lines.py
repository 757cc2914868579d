"""The records as lines for a person: one line per event, several for a summary. Text that
came from the network is made safe for a terminal (``printable``). A server note has no line of
its own: the summary's row of its server tells what it says, briefly."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from icegather.main_proc.diagnosis.relays.quality_causes import quality_figures, stream_path
from icegather.main_proc.diagnosis.servers.outcomes import never_set_up, other_family_answered, server_names
from icegather.main_proc.views.report import schema_name
from icegather.shared.net.endpoints import endpoint, is_ipv6
from icegather.shared.vocabulary.failure_causes import SERVER_ERROR_CAUSES

# Record types with no line of their own: the summary's rows tell them.
IN_SUMMARY_ONLY = frozenset({"iceservernote"})


def printable(text: str) -> str:
    """Text from the network, safe for a terminal: control characters become escapes."""
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode() for ch in text)


def local_endpoint(address: str | None, port: int | None) -> str:
    """The local socket of a record: ``-`` when none talked to the server."""
    return "-" if address is None or port is None else endpoint((address, port))


def format_line(record: dict[str, Any]) -> str:
    """One record as text for a person (a summary takes several lines)."""
    time = f"{record.get('timeMs', 0):>8.1f} ms"
    kind = schema_name(record)
    if kind == "icegatheringstatechange":
        return f"{time}  {record['state']}"
    if kind == "endofcandidates":
        return f"{time}  end of candidates"
    if kind == "icecandidate":
        line = (
            f"{time}  {record['candidateType']:<6} {record['protocol']} "
            f"{local_endpoint(record['address'], record['port'])}"
        )
        if record["relatedAddress"] is not None:
            line += f" (from {local_endpoint(record['relatedAddress'], record['relatedPort'])})"
        line += f"  {record['component']} foundation {record['foundation']} priority {record['priority']}"
        if record["url"]:
            via = f" over {record['relayProtocol']}" if record["relayProtocol"] else ""
            line += f"  via {printable(record['url'])}{via}"
        return line
    if kind == "icecandidateerror":
        return (
            f"{time}  error  {record['errorCode']} {printable(record['errorText'])}  {printable(record['url'])}"
            f"  (local {local_endpoint(record['address'], record['port'])})"
        )
    if kind == "iceserveranswer":
        return (
            f"{time}  answer {printable(record['url'])} in {record['rttMs']:.1f} ms"
            f"  (local {local_endpoint(record['address'], record['port'])})"
        )
    if kind == "icetransaction":
        sends = ", ".join(f"{sent:.1f}" for sent in record["sendsMs"])
        ended = {"answer": f"answered in {record['rttMs']:.1f} ms" if record["rttMs"] is not None else "answered",
                 "error": f"error {record['errorCode']}", "failed": f"failed ({record['cause']})"}[record["outcome"]]
        return (f"{time}  trace  {record['method']} to {local_endpoint(record['serverAddress'], record['serverPort'])} "
                f"sent at {sends} ms, {ended} at {record['endedMs']:.1f} ms  {printable(record['url'])}")
    if kind in SERVER_LINES:
        return (f"{time}  {SERVER_LINES[kind](record)}  {printable(record['url'])}"
                f"  (local {local_endpoint(record['address'], record['port'])})")
    if kind == "summary":
        return format_summary(record)
    raise ValueError(f"unknown record type {kind!r}")


def relay_check_line(record: dict[str, Any]) -> str:
    return f"relay check: {relay_result(record)}"


def format_summary(record: dict[str, Any]) -> str:
    counts = ", ".join(f"{n} {kind}" for kind, n in record["candidates"].items() if n) or "none"
    state = "complete" if record["complete"] else "NOT complete"
    lines = [
        f"summary (round {record['round']}, {record['at']}): gathering {state} in {record['timeMs']:.0f} ms; "
        f"candidates: {counts}; errors: {record['errors']}"
    ]
    if record["failure"]:
        lines.append(f"failure: {record['failure']}")
    names = server_names([(row["entry"], row["url"]) for row in record["servers"]])

    def name(row: dict[str, Any]) -> str:
        return printable(names.get((row["entry"], row["url"]), row["url"]))

    width = max((len(name(row)) for row in record["servers"]), default=0)
    for row in record["servers"]:
        lines.append(f"  {name(row):<{width}}  {server_result(row)}")
        lines.extend(f"  {'':<{width}}    {quality_line(relay['quality'])}" for relay in row["relays"]
                     if relay["quality"] is not None)
    if (record["natMapping"], record["natFiltering"]) != ("unknown", "unknown"):
        lines.append(f"nat: mapping {record['natMapping']}, filtering {record['natFiltering']} (RFC 4787)")
    diagnosis = record["diagnosis"]
    lines.append(f"diagnosis: {diagnosis['summary']}")
    for finding in diagnosis["findings"]:
        lines.append(f"  {name(finding)}: {finding['finding']}; check {finding['nextCheck']}")
    if not diagnosis["findings"]:
        lines.append(f"  next: {diagnosis['nextCheck']}")
    return "\n".join(lines)


def server_result(row: dict[str, Any]) -> str:
    """A server's row: how it answered, what it gave or how it failed (per address family when it
    answered over one and failed over the other), and what it told of itself."""
    if row["reachable"] is None:
        return "not tried (relay only)"
    if row["rttMs"] is not None:
        rtt = f"answered in {row['rttMs']:.1f} ms"
    else:
        rtt = "answers discarded" if row["reachable"] else "no answer"
    told = server_told(row)
    failure = f"{row['errorCode']} {printable(row['errorText'] or '')}"
    other_family = other_family_answered(row["answeredOver"], row["failedOver"])
    if row["errorCode"] is not None and other_family is None:
        others = "".join(f"; {other_error_words(error)}" for error in row["otherErrors"])
        return f"FAILED {failure} ({'; '.join(filter(None, (rtt, told)))}){others}"
    if not row["finished"]:
        return f"NOT FINISHED ({rtt} before gathering ended)"
    gained = ", ".join(row["gained"])
    relays = "".join(f"; relay {relay_result(relay)}" for relay in row["relays"])
    over = f" over {other_family}" if other_family else ""
    result = f"ok{over}, {rtt}" + (f", gave {gained}" if gained else "") + (f" ({told})" if told else "") + relays
    if other_family:
        failed_over = f"{printable(', '.join(row['failedOver']))}{server_at(row['errorServerAddress'])}"
        result += f"; FAILED over {failed_over}: {failure}"
    if row["hostAddressSeen"]:
        result += f"; {no_nat_words(row['hostAddressSeen'])}"
    return result


def server_at(address: str | None) -> str:
    """The server address an error was met at, in brackets ("" when none was)."""
    return f" ({f'[{address}]' if is_ipv6(address) else address})" if address else ""


def other_error_words(error: dict[str, Any]) -> str:
    """Another address family's error beside the row's, in a few words: a server's error
    response by its code and reason phrase, any other by its cause, the token ``icegather
    explain`` knows ("IPv6 ([::1]): connection_refused")."""
    said = (f"{error['errorCode']} {printable(error['errorText'])}" if error["errorCause"] in SERVER_ERROR_CAUSES
            else printable(error["errorCause"]))
    return f"{printable(error['family'] or 'no address')}{server_at(error['errorServerAddress'])}: {said}"


def no_nat_words(sockets: list[str]) -> str:
    """A STUN answer that gave back the host's own address, in words."""
    return (f"no NAT between here and the server (it sees {printable(', '.join(sockets))}, "
            "the host address itself)")


# How each server note reads in its server's row ({detail}: the note's).
NOTE_WORDS = {
    "ipv6_relay": "IPv6 relay too",
    "ipv6_relay_refused": "no IPv6 relay: {detail}",
    "ipv6_relay_ignored": "IPv6 relay asked, IPv4 given",
    "ipv6_relay_unanswered": "IPv6 relay asked, no answer",
}


def server_told(row: dict[str, Any]) -> str:
    """What the server told of itself, briefly: its SOFTWARE and how it took the IPv6 ask."""
    told = [printable(row["software"])] if row["software"] else []
    told += [NOTE_WORDS[note["note"]].format(detail=printable(note["detail"])) for note in row["notes"]]
    return "; ".join(dict.fromkeys(told))


RELAY_WORDS = {
    "works": "works",
    "allocation_lost": "ALLOCATION LOST: the server dropped it during the check",
    "wrong_source": "WRONG SOURCE: data arrives from another address than the relayed one",
    "out_only": "ONE WAY: data out to the peer, nothing back",
    "back_only": "ONE WAY: data back from the peer, nothing out",
    "no_data": "CARRIES NO DATA either way",
    "reflected": "REFLECTED: probes came back to their sender, none got through",
    "indication_out_dropped": "SEND INDICATIONS DROPPED: none reached the peer",
    "indication_back_dropped": "DATA INDICATIONS MISSING: nothing from the peer came back before ChannelBind",
    "channel_out_dropped": "CHANNELDATA DROPPED: none from the client reached the peer",
    "channel_back_dropped": "CHANNEL CARRIES NOTHING BACK: nothing from the peer came back after ChannelBind",
    "refused": "REFUSED",
    "request_failed": "NOT CHECKED, no answer",
    "channel_bind_failed": "CHANNELBIND FAILED, no usable answer",
    "not_checked": "not checked",
}


def relay_traffic(relay: dict[str, Any]) -> str:
    """What got through each way: in all, or per mechanism when the mechanisms differ."""

    def ways(probes: int, out: int, back: int) -> str:
        return f"{out}/{probes} out, {back}/{probes} back"

    indications = (relay["indicationProbes"], relay["indicationOutReceived"], relay["indicationBackReceived"])
    channels = (relay["channelProbes"], relay["channelOutReceived"], relay["channelBackReceived"])
    traffic = (
        f"Send/Data {ways(*indications)}; ChannelData {ways(*channels)}"
        if channels[0] and channels != indications
        else ways(relay["probes"], relay["outReceived"], relay["backReceived"])
    )
    return traffic + (f", {relay['strayProbes']} stray" if relay["strayProbes"] else "")


def quality_line(quality: dict[str, Any]) -> str:
    """A relay's call-like stream in one line: the relay (both, relay to relay), its figures,
    and what crossed a threshold or stopped it."""
    if never_set_up(quality):
        return f"quality through {printable(stream_path(quality))}: not measured ({quality['cause']})"
    line = f"quality through {printable(stream_path(quality))} over {quality['transport']}: {quality_figures(quality)}"
    if quality["transport"] != "udp" and quality["addedDelayMs"] is not None:
        line += f", added delay {quality['addedDelayMs']:.0f} ms"
    if quality["degraded"]:
        line += f"; DEGRADED: {', '.join(quality['degraded'])}"
    if quality["cause"]:
        line += f"; STOPPED: {quality['cause']}"
    return line


def nat_test_line(test: dict[str, Any]) -> str:
    """One RFC 5780 test: where it went, and what came back."""
    sent = f"nat test {test['test']} to {local_endpoint(test['serverAddress'], test['serverPort'])}"
    if not test["answered"]:
        return f"{sent}: no answer"
    return (f"{sent}: answered from {local_endpoint(test['sourceAddress'], test['sourcePort'])}, mapped "
            f"{local_endpoint(test['mappedAddress'], test['mappedPort'])}")


def lost_probes(relay: dict[str, Any]) -> str:
    """Probes of a relay that works that were lost, each way ("" when none were)."""
    probes = relay["probes"]
    lost = [f"{probes - got} of {probes} probes lost {way}" for way, got in
            (("out", relay["outReceived"]), ("back", relay["backReceived"])) if got < probes]
    return ", " + ", ".join(lost) if relay["outcome"] == "works" and lost else ""


def relay_result(relay: dict[str, Any]) -> str:
    """A relay check in a few words: its outcome, the relayed address and what got through."""
    words = RELAY_WORDS.get(relay["outcome"], relay["outcome"]) + lost_probes(relay)
    relayed = local_endpoint(relay["relayedAddress"], relay["relayedPort"])
    if relay["failedRequest"]:
        words += f"; {relay['failedRequest']} {relay['errorCode']} {printable(relay['errorText'])}"
    elif not relay["probes"]:
        words += f": {printable(relay['errorText'] or '')}"
    if not relay["probes"]:
        return f"{words} ({relayed})"
    rtt = f", RTT {relay['rttMs']:.1f} ms" if relay["rttMs"] is not None else ""
    return f"{words} ({relayed}: {relay_traffic(relay)}{rtt})"


# Record types whose line is words about a server's URL, from its local socket.
SERVER_LINES: dict[str, Callable[[dict[str, Any]], str]] = {
    "icerelaycheck": relay_check_line, "icerelayquality": quality_line, "icenattest": nat_test_line,
}

"""``RTCIceCandidate``: a candidate line and the fields a browser parses out of it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from icegather.main_proc.dom.event_init import ReadOnly
from icegather.shared.net.candidate import CandidateFields, parse_candidate


class RTCIceCandidate:
    """As in W3C webrtc-pc section 4.8.1: built from an init dictionary; the ``candidate`` text
    is parsed into ``foundation``, ``component``, ``address`` and the rest. A text that does
    not parse leaves those fields None, as the spec says."""

    candidate: ReadOnly[str] = ReadOnly()
    sdpMid: ReadOnly[str | None] = ReadOnly()
    sdpMLineIndex: ReadOnly[int | None] = ReadOnly()
    usernameFragment: ReadOnly[str | None] = ReadOnly()
    relayProtocol: ReadOnly[str | None] = ReadOnly()
    url: ReadOnly[str | None] = ReadOnly()
    # Parsed out of ``candidate``.
    foundation: ReadOnly[str | None] = ReadOnly()
    component: ReadOnly[str | None] = ReadOnly()
    priority: ReadOnly[int | None] = ReadOnly()
    address: ReadOnly[str | None] = ReadOnly()
    protocol: ReadOnly[str | None] = ReadOnly()
    port: ReadOnly[int | None] = ReadOnly()
    type: ReadOnly[str | None] = ReadOnly()
    tcpType: ReadOnly[str | None] = ReadOnly()
    relatedAddress: ReadOnly[str | None] = ReadOnly()
    relatedPort: ReadOnly[int | None] = ReadOnly()

    def __init__(self, candidateInitDict: Mapping[str, Any] | None = None) -> None:  # noqa: N803
        init = dict(candidateInitDict or {})
        self._candidate: str = init.get("candidate", "")
        self._sdpMid: str | None = init.get("sdpMid")
        self._sdpMLineIndex: int | None = init.get("sdpMLineIndex")
        if self._sdpMid is None and self._sdpMLineIndex is None:
            raise TypeError("an RTCIceCandidate needs sdpMid or sdpMLineIndex")
        self._usernameFragment: str | None = init.get("usernameFragment")
        self._relayProtocol: str | None = init.get("relayProtocol")
        self._url: str | None = init.get("url")
        fields = _parsed(self._candidate)
        self._foundation = fields.foundation if fields else None
        self._component = {1: "rtp", 2: "rtcp"}.get(fields.component) if fields else None
        self._priority = fields.priority if fields else None
        self._address = fields.address if fields else None
        self._protocol = fields.protocol if fields else None
        self._port = fields.port if fields else None
        self._type = fields.type if fields else None
        self._tcpType = fields.tcp_type if fields else None
        self._relatedAddress = fields.related_address if fields else None
        self._relatedPort = fields.related_port if fields else None

    def toJSON(self) -> dict[str, Any]:
        return {
            "candidate": self._candidate,
            "sdpMid": self._sdpMid,
            "sdpMLineIndex": self._sdpMLineIndex,
            "usernameFragment": self._usernameFragment,
        }

    def __repr__(self) -> str:
        return f"RTCIceCandidate({self._candidate!r})"


def _parsed(candidate: str) -> CandidateFields | None:
    try:
        return parse_candidate(candidate) if candidate else None
    except ValueError:
        return None

"""``RTCIceCandidate``: a candidate line and the fields a browser parses out of it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from icegather.shared.candidate import parse_candidate


class RTCIceCandidate:
    """As in W3C webrtc-pc section 4.8.1: built from an init dictionary; the ``candidate`` text
    is parsed into ``foundation``, ``component``, ``address`` and the rest. A text that does
    not parse leaves those fields None, as the spec says."""

    def __init__(self, candidateInitDict: Mapping[str, Any] | None = None) -> None:  # noqa: N803
        init = dict(candidateInitDict or {})
        self._candidate = init.get("candidate", "")
        self._sdp_mid = init.get("sdpMid")
        self._sdp_mline_index = init.get("sdpMLineIndex")
        if self._sdp_mid is None and self._sdp_mline_index is None:
            raise TypeError("an RTCIceCandidate needs sdpMid or sdpMLineIndex")
        self._username_fragment = init.get("usernameFragment")
        self._relay_protocol = init.get("relayProtocol")
        self._url = init.get("url")
        try:
            self._fields = parse_candidate(self._candidate) if self._candidate else None
        except ValueError:
            self._fields = None

    def _field(self, name: str) -> Any:
        return getattr(self._fields, name) if self._fields is not None else None

    candidate = property(lambda self: self._candidate)
    sdpMid = property(lambda self: self._sdp_mid)
    sdpMLineIndex = property(lambda self: self._sdp_mline_index)
    usernameFragment = property(lambda self: self._username_fragment)
    relayProtocol = property(lambda self: self._relay_protocol)
    url = property(lambda self: self._url)
    foundation = property(lambda self: self._field("foundation"))
    priority = property(lambda self: self._field("priority"))
    address = property(lambda self: self._field("address"))
    protocol = property(lambda self: self._field("protocol"))
    port = property(lambda self: self._field("port"))
    type = property(lambda self: self._field("type"))
    tcpType = property(lambda self: self._field("tcp_type"))
    relatedAddress = property(lambda self: self._field("related_address"))
    relatedPort = property(lambda self: self._field("related_port"))

    @property
    def component(self) -> str | None:
        number = self._field("component")
        return {1: "rtp", 2: "rtcp"}.get(number) if number is not None else None

    def toJSON(self) -> dict[str, Any]:  # noqa: N802
        return {
            "candidate": self._candidate,
            "sdpMid": self._sdp_mid,
            "sdpMLineIndex": self._sdp_mline_index,
            "usernameFragment": self._username_fragment,
        }

    def __repr__(self) -> str:
        return f"RTCIceCandidate({self._candidate!r})"

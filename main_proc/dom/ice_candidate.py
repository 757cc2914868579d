"""``RTCIceCandidate``: a candidate line and the fields a browser parses out of it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from icegather.shared.net.candidate import CandidateFields, parse_candidate


class RTCIceCandidate:
    """As in W3C webrtc-pc section 4.8.1: built from an init dictionary; the ``candidate`` text
    is parsed into ``foundation``, ``component``, ``address`` and the rest. A text that does
    not parse leaves those fields None, as the spec says."""

    def __init__(self, candidateInitDict: Mapping[str, Any] | None = None) -> None:  # noqa: N803
        init = dict(candidateInitDict or {})
        self._candidate: str = init.get("candidate", "")
        self._sdp_mid: str | None = init.get("sdpMid")
        self._sdp_mline_index: int | None = init.get("sdpMLineIndex")
        if self._sdp_mid is None and self._sdp_mline_index is None:
            raise TypeError("an RTCIceCandidate needs sdpMid or sdpMLineIndex")
        self._username_fragment: str | None = init.get("usernameFragment")
        self._relay_protocol: str | None = init.get("relayProtocol")
        self._url: str | None = init.get("url")
        self._fields: CandidateFields | None
        try:
            self._fields = parse_candidate(self._candidate) if self._candidate else None
        except ValueError:
            self._fields = None

    @property
    def candidate(self) -> str:
        return self._candidate

    @property
    def sdpMid(self) -> str | None:
        return self._sdp_mid

    @property
    def sdpMLineIndex(self) -> int | None:
        return self._sdp_mline_index

    @property
    def usernameFragment(self) -> str | None:
        return self._username_fragment

    @property
    def relayProtocol(self) -> str | None:
        return self._relay_protocol

    @property
    def url(self) -> str | None:
        return self._url

    @property
    def foundation(self) -> str | None:
        return self._fields.foundation if self._fields is not None else None

    @property
    def priority(self) -> int | None:
        return self._fields.priority if self._fields is not None else None

    @property
    def address(self) -> str | None:
        return self._fields.address if self._fields is not None else None

    @property
    def protocol(self) -> str | None:
        return self._fields.protocol if self._fields is not None else None

    @property
    def port(self) -> int | None:
        return self._fields.port if self._fields is not None else None

    @property
    def type(self) -> str | None:
        return self._fields.type if self._fields is not None else None

    @property
    def tcpType(self) -> str | None:
        return self._fields.tcp_type if self._fields is not None else None

    @property
    def relatedAddress(self) -> str | None:
        return self._fields.related_address if self._fields is not None else None

    @property
    def relatedPort(self) -> int | None:
        return self._fields.related_port if self._fields is not None else None

    @property
    def component(self) -> str | None:
        if self._fields is None:
            return None
        return {1: "rtp", 2: "rtcp"}.get(self._fields.component)

    def toJSON(self) -> dict[str, Any]:
        return {
            "candidate": self._candidate,
            "sdpMid": self._sdp_mid,
            "sdpMLineIndex": self._sdp_mline_index,
            "usernameFragment": self._username_fragment,
        }

    def __repr__(self) -> str:
        return f"RTCIceCandidate({self._candidate!r})"

"""The two WebRTC ICE events of W3C webrtc-pc: ``icecandidate`` and ``icecandidateerror``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from icegather.main_proc.dom.event_init import ReadOnly, init_dict, optional, required
from icegather.main_proc.dom.event_target import Event
from icegather.main_proc.dom.ice_candidate import RTCIceCandidate


class RTCPeerConnectionIceEvent(Event):
    """``icecandidate``: a gathered candidate, or ``candidate`` None when gathering is over.
    ``serverIndex`` is icegather's own: the index in ``iceServers`` of the entry whose ``url``
    gave the candidate (None for a host candidate, or for an event built by user code)."""

    candidate: ReadOnly[RTCIceCandidate | None] = ReadOnly()
    url: ReadOnly[str | None] = ReadOnly()
    serverIndex: ReadOnly[int | None] = ReadOnly()

    def __init__(self, type: str, eventInitDict: Mapping[str, Any] | None = None) -> None:  # noqa: A002, N803
        super().__init__(type, eventInitDict)
        init = init_dict(eventInitDict)
        self._candidate: RTCIceCandidate | None = init.get("candidate")
        self._url: str | None = init.get("url")
        self._serverIndex = optional(init.get("serverIndex"), int, "serverIndex")


class RTCPeerConnectionIceErrorEvent(Event):
    """``icecandidateerror``: one STUN/TURN server URL failed (W3C webrtc-pc section 4.8.3).

    ``errorCode`` is required, as in browsers; ``address`` and ``port`` default to None,
    ``url`` and ``errorText`` to "". ``port`` is None whenever ``address`` is. Three attributes
    are icegather's own, None when not known (as for an event built by user code):
    ``errorCause``, why the URL failed, as data (``shared.vocabulary.failure_causes``); ``serverIndex``,
    the index in ``iceServers`` of the entry whose URL failed (a URL may repeat in several
    entries); ``serverAddress``, the server's IP address the attempt was for.
    """

    address: ReadOnly[str | None] = ReadOnly()
    port: ReadOnly[int | None] = ReadOnly()
    url: ReadOnly[str] = ReadOnly()
    errorCode: ReadOnly[int] = ReadOnly()
    errorText: ReadOnly[str] = ReadOnly()
    errorCause: ReadOnly[str | None] = ReadOnly()
    serverIndex: ReadOnly[int | None] = ReadOnly()
    serverAddress: ReadOnly[str | None] = ReadOnly()

    def __init__(self, type: str, eventInitDict: Mapping[str, Any] | None = None) -> None:  # noqa: A002, N803
        init = init_dict(eventInitDict)
        if "errorCode" not in init:
            raise TypeError("RTCPeerConnectionIceErrorEvent needs an init dictionary with errorCode")
        super().__init__(type, init)
        self._address = optional(init.get("address"), str, "address")
        self._port = optional(init.get("port"), int, "port")
        self._url = required(init.get("url", ""), str, "url")
        self._errorCode = required(init["errorCode"], int, "errorCode")
        self._errorText = required(init.get("errorText", ""), str, "errorText")
        self._errorCause = optional(init.get("errorCause"), str, "errorCause")
        self._serverIndex = optional(init.get("serverIndex"), int, "serverIndex")
        self._serverAddress = optional(init.get("serverAddress"), str, "serverAddress")
        if self._port is not None and not 0 <= self._port <= 65535:
            raise TypeError("port must be an unsigned short (0-65535) or None")
        if not 0 <= self._errorCode <= 65535:
            raise TypeError("errorCode must be an unsigned short (0-65535)")

    def __repr__(self) -> str:
        return (
            f"<RTCPeerConnectionIceErrorEvent {self._errorCode} {self._errorText!r} url={self._url!r}"
            f" address={self._address!r} port={self._port!r}>"
        )



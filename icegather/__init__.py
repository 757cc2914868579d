"""icegather: find out why WebRTC ICE gathering fails.

The public API, importable from here::

    from icegather import RTCPeerConnection, RTCPeerConnectionIceErrorEvent, TransportClient

The package has the browser's process split: ``icegather.main_proc`` (the DOM-like API, the
supervision of the transport, the command line), ``icegather.transport_proc`` (the process that
talks to STUN/TURN servers) and ``icegather.shared`` (what both agree on). The names below are
loaded on first use, not on ``import icegather``: the transport process imports this package
too, and must not load the main process's modules (nor pay for them at start-up).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from icegather.shared.version import __version__

if TYPE_CHECKING:
    from icegather.main_proc.dom.event_target import Event, EventTarget
    from icegather.main_proc.dom.ice_candidate import RTCIceCandidate
    from icegather.main_proc.dom.ice_events import RTCPeerConnectionIceErrorEvent, RTCPeerConnectionIceEvent
    from icegather.main_proc.dom.icegather_events import IceRelayCheckEvent, IceServerAnswerEvent
    from icegather.main_proc.dom.peerconnection import RTCPeerConnection
    from icegather.main_proc.link.supervision import Supervision
    from icegather.main_proc.link.transport_client import TransportClient
    from icegather.main_proc.link.transport_error import TransportError
    from icegather.main_proc.link.transport_supervisor import TransportSupervisor
    from icegather.shared.config.dom_exception import DOMException
    from icegather.shared.config.gather_options import GatherOptions, RetransmissionSchedule
    from icegather.shared.config.ice_config import RTCConfiguration, RTCIceServer
    from icegather.shared.structs import IceCandidateErrorInfo, RelayCheckInfo
    from icegather.shared.vocabulary.relay_outcomes import relay_outcome

# Each public name and the module that defines it (tests/test_packaging.py checks that this
# and __all__ agree).
_EXPORTS = {
    "DOMException": "icegather.shared.config.dom_exception",
    "Event": "icegather.main_proc.dom.event_target",
    "EventTarget": "icegather.main_proc.dom.event_target",
    "GatherOptions": "icegather.shared.config.gather_options",
    "IceCandidateErrorInfo": "icegather.shared.structs",
    "IceRelayCheckEvent": "icegather.main_proc.dom.icegather_events",
    "IceServerAnswerEvent": "icegather.main_proc.dom.icegather_events",
    "RTCConfiguration": "icegather.shared.config.ice_config",
    "RTCIceCandidate": "icegather.main_proc.dom.ice_candidate",
    "RTCIceServer": "icegather.shared.config.ice_config",
    "RTCPeerConnection": "icegather.main_proc.dom.peerconnection",
    "RTCPeerConnectionIceErrorEvent": "icegather.main_proc.dom.ice_events",
    "RTCPeerConnectionIceEvent": "icegather.main_proc.dom.ice_events",
    "RelayCheckInfo": "icegather.shared.structs",
    "RetransmissionSchedule": "icegather.shared.config.gather_options",
    "Supervision": "icegather.main_proc.link.supervision",
    "TransportClient": "icegather.main_proc.link.transport_client",
    "TransportError": "icegather.main_proc.link.transport_error",
    "TransportSupervisor": "icegather.main_proc.link.transport_supervisor",
    "relay_outcome": "icegather.shared.vocabulary.relay_outcomes",
}

__all__ = [
    "DOMException",
    "Event",
    "EventTarget",
    "GatherOptions",
    "IceCandidateErrorInfo",
    "IceRelayCheckEvent",
    "IceServerAnswerEvent",
    "RTCConfiguration",
    "RTCIceCandidate",
    "RTCIceServer",
    "RTCPeerConnection",
    "RTCPeerConnectionIceErrorEvent",
    "RTCPeerConnectionIceEvent",
    "RelayCheckInfo",
    "RetransmissionSchedule",
    "Supervision",
    "TransportClient",
    "TransportError",
    "TransportSupervisor",
    "__version__",
    "relay_outcome",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'icegather' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))

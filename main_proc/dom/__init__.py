"""The W3C-shaped API: events, EventTarget, RTCIceCandidate and RTCPeerConnection."""

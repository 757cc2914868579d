"""The main process: the DOM-like API (EventTarget, the ICE events, RTCPeerConnection), the
supervision of the transport process, and the ``icegather`` command line."""

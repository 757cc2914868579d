"""The transport process: ICE candidate gathering against STUN/TURN servers, reported to the
main process over ZeroMQ. It holds every socket to the network and no user-facing logic."""

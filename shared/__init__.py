"""What the main process and the transport process agree on: structs, the wire protocol and its
validation, ICE server URL and configuration parsing, the STUN/TURN error-code registry."""

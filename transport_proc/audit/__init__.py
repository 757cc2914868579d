"""The audit: what a TURN server allows that it should not (open relay, peers, TLS, software)."""

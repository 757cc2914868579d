"""What a relay's check and call-like stream mean: why it carries no data, or carries it too poorly for a call."""

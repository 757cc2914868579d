"""TURN: the Allocate exchange, address families, Send/Data indications and ChannelData."""

"""The link to the transport: the client, the process it starts, supervision, routing, watchdogs."""

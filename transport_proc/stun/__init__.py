"""STUN on the wire: sockets and ICMP, name lookup, the parser, transactions, failures as codes."""

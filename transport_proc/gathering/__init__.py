"""One peer connection's gathering: host sockets, one attempt per server URL and local address
(a STUN Binding with its NAT tests, or a TURN Allocate), the use of each allocation, and what
every attempt reports."""

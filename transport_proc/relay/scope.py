"""Where the relay check may send its peer's probes, sans-IO.

The peer socket sends its "back" probes straight to the relayed address the server advertises:
the one address of the check that the server, not icegather, chooses. A hostile server could
advertise a loopback or private address around the machine that runs icegather and have the
probes sent there. So probes go only to a unicast relayed address in the same scope as the
server's own address (``shared.net.address_scopes``: a loopback server relays on loopback, a public
one on a public address: ``shared.net.address_scopes.refusal``, the rule for every address
a server names); anything else is not checked, and says why.
"""

from __future__ import annotations

from icegather.shared.net.address_scopes import refusal, scope_of
from icegather.transport_proc.relay.probes import NotChecked


def relayed_refusal(relayed_ip: str, server_ip: str) -> NotChecked | None:
    """Why no probe may go to ``relayed_ip`` from a server at ``server_ip``; None if they may."""
    why = refusal(relayed_ip, server_ip)
    if why == "not_unicast":
        return NotChecked("relayed_not_unicast", f"the relayed address {relayed_ip} is not a unicast address")
    if why == "out_of_scope":
        relayed_scope, server_scope = scope_of(relayed_ip), scope_of(server_ip)
        return NotChecked(
            "relayed_out_of_scope",
            f"the relayed address {relayed_ip} is {relayed_scope}, the server's {server_ip} {server_scope}: "
            "no probe is sent where the server points outside its own scope",
        )
    return None

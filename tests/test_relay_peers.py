"""The relay check against TURN servers no one here wrote: Pion relays both mechanisms both
ways; node-turn 0.0.6 drops every ChannelData the client sends and answers ChannelBind without
MESSAGE-INTEGRITY (scripts/peer_servers/README.md), which a browser's call through it does not
survive. Both facts are reported, the first as the outcome."""

from __future__ import annotations

import dataclasses

import pytest
from gathering_helpers import LOOPBACK, events_of

from icegather.main_proc.views.report import relay_check_record
from icegather.main_proc.views.text_lines import format_line
from icegather.transport_proc.relay.check import PROBES_PER_KIND, SECOND_ROUND_PROBES

CHECKING = dataclasses.replace(LOOPBACK, relay_check=True)
EACH = PROBES_PER_KIND

pytestmark = pytest.mark.peers


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_pion_relays_each_mechanism_both_ways(pion, transport):
    [check] = events_of("icerelaycheck", {"iceServers": [pion.ice_server(transport=transport)]}, CHECKING)

    assert check.outcome == "works"
    assert (check.indicationProbes, check.indicationOutReceived, check.indicationBackReceived) == (EACH,) * 3
    assert (check.channelProbes, check.channelOutReceived, check.channelBackReceived) == (EACH,) * 3
    assert check.strayProbes == 0 and check.failedRequest is None


def test_node_turn_drops_the_clients_channel_data_and_the_check_says_so(nodeturn):
    [check] = events_of("icerelaycheck", {"iceServers": [nodeturn.ice_server()]}, CHECKING)

    assert check.outcome == "channel_out_dropped"
    assert (check.indicationProbes, check.indicationOutReceived, check.indicationBackReceived) == (EACH,) * 3
    # Peer data comes back on the channel: node-turn did bind it. None went out, in a second round either.
    retried = EACH + SECOND_ROUND_PROBES
    assert (check.channelProbes, check.channelOutReceived, check.channelBackReceived) == (retried, 0, retried)
    # Its ChannelBind success has no MESSAGE-INTEGRITY: a fact of its own, beside the data.
    assert (check.failedRequest, check.errorCode, check.errorCause) == ("ChannelBind", 701, "answer_unverified")
    line = format_line(relay_check_record(check, 1.0))
    assert "CHANNELDATA DROPPED" in line and "NOT CHECKED" not in line

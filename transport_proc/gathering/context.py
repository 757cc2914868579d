"""What every attempt of one gathering works with: the request's configuration and options, the
local addresses with their host sockets, the allocations it keeps and where it reports; and the
socket an attempt talks to its server from."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass

from icegather.shared.config.gather_options import GatherOptions, RetransmissionSchedule
from icegather.shared.config.ice_config import IceConfiguration
from icegather.transport_proc.gathering.attempts import Attempt
from icegather.transport_proc.gathering.reports import Reports
from icegather.transport_proc.gathering.transaction_traces import connect_trace
from icegather.transport_proc.stun.channels import Channel, UdpChannel, open_channel
from icegather.transport_proc.stun.failures import AttemptFailed
from icegather.transport_proc.turn.lifecycle import Allocations


@dataclass(frozen=True)
class AttemptContext:
    """One gathering's, once its local addresses are chosen and its host sockets open (the
    socket of each local address, or why it could not be opened)."""

    configuration: IceConfiguration
    options: GatherOptions
    local_addresses: tuple[str, ...]
    host_channels: Mapping[str, UdpChannel | AttemptFailed]
    allocations: Allocations
    reports: Reports

    @property
    def schedule(self) -> RetransmissionSchedule:
        return self.options.schedule

    async def open_channel(self, attempt: Attempt) -> Channel:
        """A socket to the server: the host socket for STUN over UDP, a new one otherwise."""
        url = attempt.url
        if not url.is_turn and url.transport == "udp":
            host = self.host_channels[attempt.local_ip]
            if isinstance(host, AttemptFailed):
                raise host
            attempt.keep_channel = True  # It is the host candidate's socket.
            return host
        tried_at = time.monotonic()
        try:
            return await open_channel(
                url, attempt.local_ip, attempt.server_address, self.schedule, self.options.verify_tls
            )
        except AttemptFailed as failure:
            if self.reports.tracing and failure.local_address is not None:
                ended, started = time.monotonic(), self.reports.started
                self.reports.trace(connect_trace(url.url, failure, attempt.server_address, tried_at, ended, started),
                                   attempt)
            raise

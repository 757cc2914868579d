"""One try of one server URL from one local address, the entry of iceServers its reports name, and
where a redirect may take it."""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from typing import TypeVar

from icegather.shared.config.ice_config import IceServer
from icegather.shared.config.ice_url import IceUrl
from icegather.shared.net.endpoints import Address, endpoint, family_name
from icegather.shared.structs import CandidateInfo, RelayCheckInfo, TransactionTraceInfo
from icegather.transport_proc.stun import failures
from icegather.transport_proc.stun.channels import Channel
from icegather.transport_proc.turn.allocation import Redirect

logger = logging.getLogger(__name__)


@dataclass
class Attempt:
    """One URL tried from one local address; ``channel`` is the socket in use, if any.
    ``server_index`` is the index of the URL's entry in iceServers; ``index``, the local
    address's among the gathering's."""

    url: IceUrl
    server: IceServer
    server_index: int
    local_ip: str
    index: int
    server_address: Address
    channel: Channel | None = None
    keep_channel: bool = False
    answered: bool = False
    rtt: float = 0.0  # of its first answer, in seconds
    software_noted: bool = False

    @property
    def local_address(self) -> Address | None:
        return self.channel.local_address if self.channel is not None else None


# A report built by a module that knows nothing of iceServers entries (a candidate, a trace, a
# relay check), which the gathering stamps with its attempt's.
Stamped = TypeVar("Stamped", CandidateInfo, RelayCheckInfo, TransactionTraceInfo)


def of_entry(info: Stamped, attempt: Attempt) -> Stamped:
    return dataclasses.replace(info, server_index=attempt.server_index)


def redirect_target(step: Redirect, attempt: Attempt, follow: bool) -> Address:
    alternate = step.alternate
    if not follow:
        raise failures.redirect_not_followed(alternate)
    if family_name(alternate[0]) != family_name(attempt.local_ip):
        raise failures.redirect_unreachable(alternate, attempt.local_ip)
    logger.info("%s redirected to %s", attempt.url.url, endpoint(alternate))
    return alternate

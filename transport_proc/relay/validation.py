"""A relay check's report leaves the transport only as the main process will accept it.

The main process validates every ``RelayCheckInfo`` against its schema and treats one that
fails as a broken transport. A report built from what a hostile or buggy server did must never
get that far: ``validated`` checks it here, with the same decoder, and puts a not-checked
report with the reason ``internal_error`` in its place (logged: it is a bug of ours).
"""

from __future__ import annotations

import dataclasses
import logging

from icegather.shared.net.endpoints import Address
from icegather.shared.protocol.checks import ProtocolError
from icegather.shared.protocol.schemas import decoder_for
from icegather.shared.structs import RelayCheckInfo
from icegather.shared.vocabulary.relay_outcomes import NotCheckedReason

logger = logging.getLogger(__name__)


def not_checked_info(local: Address, url: str, relayed: Address, reason: NotCheckedReason, text: str) -> RelayCheckInfo:
    """The report of a check that sent no probe, and why."""
    return RelayCheckInfo(
        address=local[0], port=local[1], url=url, relayed_address=relayed[0], relayed_port=relayed[1],
        probes=0, out_received=0, back_received=0,
        indication_probes=0, indication_out_received=0, indication_back_received=0,
        channel_probes=0, channel_out_received=0, channel_back_received=0, stray_probes=0,
        out_source_address="", out_source_port=0, rtt_ms=None, back_cause="",
        failed_request="", error_code=0, error_cause="", error_text=text, not_checked_reason=reason,
    )


def validated(info: RelayCheckInfo) -> RelayCheckInfo:
    """``info`` if it passes the schema the main process applies, else a not-checked report of
    the same allocation with the reason ``internal_error``."""
    try:
        decoder_for(RelayCheckInfo)(dataclasses.asdict(info))
    except ProtocolError as error:
        logger.error("%s: relay check report rejected by its own schema (%s): %r", info.url, error, info)
        return not_checked_info(
            (info.address, info.port), info.url, (info.relayed_address, info.relayed_port), "internal_error",
            "icegather could not report this check (a bug, logged by the transport)",
        )
    return info

"""A relay check's or quality stream's report leaves the transport only as the main process
will accept it.

The main process validates every ``RelayCheckInfo`` and ``RelayQualityInfo`` against its schema
and treats one that fails as a broken transport. A report built from what a hostile or buggy
server did must never get that far: ``validated`` and ``validated_quality`` check it here, with
the same decoder, and put a report with the cause ``internal_error`` in its place (logged: it
is a bug of ours).
"""

from __future__ import annotations

import dataclasses
import logging

from icegather.shared.net.endpoints import Address
from icegather.shared.protocol.checks import ProtocolError
from icegather.shared.protocol.schemas import decoder_for
from icegather.shared.structs import RelayCheckInfo, RelayQualityInfo
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


def rejected(info: RelayCheckInfo | RelayQualityInfo) -> bool:
    """Whether the main process would refuse ``info``; logged when it would."""
    try:
        # On the wire (msgpack), tuples are lists.
        wire = {name: list(value) if isinstance(value, tuple) else value for name, value in vars(info).items()}
        kind: type = type(info)
        decoder_for(kind)(wire)
    except ProtocolError as error:
        logger.error("%s: report rejected by its own schema (%s): %r", info.url, error, info)
        return True
    return False


def validated(info: RelayCheckInfo) -> RelayCheckInfo:
    """``info`` if it passes the schema the main process applies, else a not-checked report of
    the same allocation with the reason ``internal_error``."""
    if rejected(info):
        return not_checked_info(
            (info.address, info.port), info.url, (info.relayed_address, info.relayed_port), "internal_error",
            "icegather could not report this check (a bug, logged by the transport)",
        )
    return info


def validated_quality(info: RelayQualityInfo) -> RelayQualityInfo:
    """``info`` if it passes the schema, else the same stream with no facts and the cause
    ``internal_error``."""
    if not rejected(info):
        return info
    return dataclasses.replace(
        info, far_url="", far_server_index=0, far_relayed_address="", far_relayed_port=0,
        packets_out=0, packets_out_received=0, packets_back=0, packets_back_received=0, reordered=0, duplicated=0,
        jitter_out_ms=None, jitter_back_ms=None, rtt_min_ms=None, rtt_p50_ms=None, rtt_p95_ms=None, rtt_p99_ms=None,
        series_sent=(), series_lost=(), series_rtt_ms=(), cause="internal_error",
        error_text="icegather could not report this stream (a bug, logged by the transport)",
    )

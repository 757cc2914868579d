"""A call-like stream through a relay that carries data (``GatherOptions.quality_seconds``).

After a relay check saw data cross both ways with a mechanism (``quality_stats.stream_mechanism``),
the TURN client (the near end) sends ``rate`` packets a second of ``payload_bytes`` for
``seconds`` through its relay to the far end, which echoes each packet the first time it
arrives, with the same sequence number, back through the relay. The far end is the relay
check's peer socket (``PeerEnd``), or, relay to relay, a second allocation of icegather's own
(``TurnEnd``). Then the stream waits ``QUALITY_DRAIN_SECONDS`` for stragglers, or less when
every packet came back.

Packets go out on the event loop's clock at their ideal times (``started + i / rate``), each
send scheduling the next, so that a late turn of the loop delays one packet, not every later
one. A failure of either end (a connection reset or closed, an ICMP error, a refresh refused)
stops the stream at once: it is reported with that cause and what was measured until then.
The numbers are ``quality_stats``'s.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from icegather.shared.config.gather_limits import QUALITY_DRAIN_SECONDS
from icegather.shared.structs import RelayQualityInfo
from icegather.transport_proc.relay.quality_stats import QualityLog, StreamPath
from icegather.transport_proc.relay.stream_ends import StreamEnd
from icegather.transport_proc.relay.validation import validated_quality
from icegather.transport_proc.stun.failures import AttemptFailed

logger = logging.getLogger(__name__)


def report(log: QualityLog, path: StreamPath, failure: AttemptFailed | None = None) -> RelayQualityInfo:
    """The stream's report: what ``log`` measured, and the failure that stopped it, if one did."""
    if failure is None:
        return validated_quality(log.info(path))
    logger.info("%s: quality stream stopped: %d %s", path.url, failure.code, failure.text)
    return validated_quality(log.info(path, failure.cause, failure.text))


class QualityStream:
    """One stream from ``near`` to ``far`` and back, through the relay ``path`` names."""

    def __init__(self, log: QualityLog, near: StreamEnd, far: StreamEnd, path: StreamPath) -> None:
        self.log = log
        self.near = near
        self.far = far
        self.path = path
        self.failure: AttemptFailed | None = None
        self._next = 0
        self._timer: asyncio.TimerHandle | None = None
        self._all_sent = asyncio.Event()  # or failed
        self._ended = asyncio.Event()  # every packet sent came back, or failed

    async def run(self) -> RelayQualityInfo:
        loop = asyncio.get_running_loop()
        self.near.listen(self._at_near, self._fail)
        self.far.listen(self._at_far, self._fail)
        keeping = [asyncio.ensure_future(self._keep(end)) for end in (self.near, self.far)]
        try:
            self.log.started = loop.time()
            self._send_next()
            await self._all_sent.wait()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._ended.wait(), QUALITY_DRAIN_SECONDS)
        finally:
            if self._timer is not None:
                self._timer.cancel()
            for task in keeping:
                task.cancel()
            self.near.stop()
            self.far.stop()
        return report(self.log, self.path, self.failure)

    def _send_next(self) -> None:
        loop = asyncio.get_running_loop()
        seq = self._next
        self.near.send(self.log.send("out", seq, loop.time()))
        self._next += 1
        if self.failure is not None:  # the send itself failed
            return
        if self._next < self.log.packets:
            self._timer = loop.call_at(self.log.due(self._next), self._send_next)
        else:
            self._timer = None
            self._all_sent.set()

    def _at_far(self, payload: bytes) -> None:
        now = asyncio.get_running_loop().time()
        seq = self.log.at_far(payload, now)
        if seq is not None:
            self.far.send(self.log.send("back", seq, now))

    def _at_near(self, payload: bytes) -> None:
        now = asyncio.get_running_loop().time()
        if self.log.at_near(payload, now) is not None and self._all_sent.is_set() and self.log.complete:
            self._ended.set()

    def _fail(self, failure: AttemptFailed) -> None:
        if self.failure is None:
            self.failure = failure
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._all_sent.set()
        self._ended.set()

    async def _keep(self, end: StreamEnd) -> None:
        """Refresh what ``end`` holds for as long as the stream runs."""
        while True:
            await asyncio.sleep(end.refresh_interval)
            try:
                await end.refresh()
            except AttemptFailed as failure:
                self._fail(failure)
                return

"""The main process's routing of the transport's messages to the jobs they belong to."""

from __future__ import annotations

from icegather.main_proc.link.routing import Router
from icegather.shared import protocol
from icegather.shared.structs import CandidateInfo

HOST = CandidateInfo("candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host", "", "", 0)


class Recording:
    def __init__(self) -> None:
        self.candidates: list[CandidateInfo] = []
        self.failures: list[str] = []

    def on_candidate(self, info: CandidateInfo) -> bool:
        self.candidates.append(info)
        return True

    def on_transport_failure(self, reason: str) -> None:
        self.failures.append(reason)


class Broken(Recording):
    def on_candidate(self, info: CandidateInfo) -> bool:
        raise KeyError("a bug")


def test_a_handler_that_raises_ends_its_own_job_and_the_other_jobs_go_on():
    router = Router()
    broken, healthy = Broken(), Recording()
    broken_id, healthy_id = router.add(broken), router.add(healthy)

    refusals = [router.route(protocol.Candidate(job, HOST)) for job in (broken_id, healthy_id, broken_id)]

    assert refusals == [None, None, None]  # not the transport's fault: nothing counts against it
    assert broken.failures == ["icegather failed to handle candidate: KeyError: 'a bug'"]
    assert healthy.candidates == [HOST] and healthy.failures == []
    assert router.remove(broken_id) is False  # gone with its failure; its later messages are dropped


def test_a_message_for_a_job_never_started_is_refused_and_one_for_a_closed_job_is_dropped():
    router = Router()
    job = router.add(Recording())
    router.remove(job)

    assert router.route(protocol.Candidate(job, HOST)) is None
    assert router.route(protocol.Candidate(job + 1, HOST)) == f"candidate for unknown pc_id {job + 1}"

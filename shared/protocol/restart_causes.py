"""Why a transport restarts, as data: what the ``draining`` message carries.

A confined transport holds its files by inode (Landlock), so a file that a tool replaces by
renaming a new one over it can no longer be read; the transport then finishes its running jobs,
takes no new ones and exits, for a fresh one to read the new file
(``transport_proc.sandbox.file_watch``). The cause says which of its files were replaced.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal, get_args

RestartCause = Literal[
    # /etc/hosts, /etc/resolv.conf (or its link's target), nsswitch.conf, gai.conf, host.conf.
    "resolver_files_replaced",
    # The CA certificates a verifying TLS context reads (update-ca-certificates).
    "certificate_files_replaced",
]

RESTART_CAUSES: tuple[RestartCause, ...] = get_args(RestartCause)

# What a transport restarting for each cause restarts to read, in words.
RESTART_READS: dict[RestartCause, str] = {
    "resolver_files_replaced": "the new resolver configuration",
    "certificate_files_replaced": "the new CA certificates",
}


def restarting(cause: RestartCause, paths: Iterable[str]) -> str:
    """Why a restarting transport refuses a job: the same words on both sides of the link, so
    that the main process tells that refusal from any other (``TransportClient``)."""
    return f"the transport is restarting to read {RESTART_READS[cause]} ({', '.join(paths)})"

"""Where a transport may listen, and what protects it there.

* ``ipc://PATH``: a Unix socket. The kernel checks the permissions of the directory that holds
  it, so the directory must be open to this user only (mode 0700); it is created that way
  if missing, and a directory that others can open is refused. Abstract sockets
  (``ipc://@name``) have no permissions at all and are refused.
* ``tcp://HOST:PORT``: reachable from the network, so only with CURVE (``icegather.shared.protocol.curve_keys``):
  encrypted, and open only to clients whose public keys the service holds.
"""

from __future__ import annotations

import contextlib
import os
import socket
import stat
from pathlib import Path


class EndpointRefused(ValueError):
    """An endpoint the transport will not listen on; the message says why and what to do."""


def check_endpoint(endpoint: str, has_curve: bool) -> None:
    scheme, _, address = endpoint.partition("://")
    if scheme == "ipc":
        if address.startswith("@"):
            raise EndpointRefused(f"{endpoint}: abstract sockets have no permissions; use ipc://PATH")
        if has_curve:
            raise EndpointRefused(f"{endpoint}: CURVE is for tcp://; an ipc:// socket is protected by its directory")
    elif scheme == "tcp":
        if not has_curve:
            raise EndpointRefused(
                f"{endpoint}: a transport on TCP must use CURVE: give --curve-secret and --curve-clients "
                "(make keys with: python -m icegather.transport_proc keygen DIR NAME)"
            )
    else:
        raise EndpointRefused(f"{endpoint}: use ipc://PATH or tcp://HOST:PORT")


def private_ipc_directory(endpoint: str) -> Path:
    """The directory of an ``ipc://`` socket, created with mode 0700 if missing; refused if
    another user owns it or can open it."""
    directory = Path(endpoint.partition("://")[2]).parent
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    status = directory.stat()
    if status.st_uid != os.getuid():
        raise EndpointRefused(f"{directory} belongs to another user; the socket must be in a directory of yours")
    if status.st_mode & 0o077:
        raise EndpointRefused(
            f"{directory} can be opened by other users (mode {status.st_mode & 0o777:o}); "
            f"the socket must be in a directory only you can open: chmod 700 {directory}"
        )
    return directory


def remove_stale_socket(path: str) -> None:
    """Remove the socket a transport left at ``path`` when it ended (a confined one cannot
    remove it); refused if a transport still listens there."""
    try:
        if not stat.S_ISSOCK(os.lstat(path).st_mode):
            return  # not a socket (ZeroMQ's bind says so), or nothing there
    except FileNotFoundError:
        return
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        try:
            probe.connect(path)
        except (ConnectionRefusedError, FileNotFoundError):
            os.unlink(path)
            return
    raise EndpointRefused(f"a transport already listens at {path}")


def remove_private_ipc_directory(endpoint: str) -> None:
    """Remove an ``ipc://`` socket and its directory, if nothing else is in it: what a transport
    started for one main process leaves behind, also when that process was killed."""
    path = Path(endpoint.partition("://")[2])
    path.unlink(missing_ok=True)
    with contextlib.suppress(OSError):  # not empty, or already gone: someone else's files stay
        path.parent.rmdir()

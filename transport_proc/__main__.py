"""``python -m icegather.transport_proc``: run the transport process, or make CURVE keys for it.

    python -m icegather.transport_proc --bind ipc://DIR/transport [--watch-stdin]
    python -m icegather.transport_proc --bind tcp://HOST:PORT --curve-secret DIR/service.key_secret \\
        --curve-clients CLIENT_KEYS_DIR
    python -m icegather.transport_proc keygen DIR NAME

The main process starts it with ``--watch-stdin --remove-runtime-dir`` and a private ``ipc://``
endpoint; the transport then lives exactly as long as the pipe on its stdin, and removes its
socket's directory when it ends, also when the main process was killed. Run on its own, it is a
service that several main processes share (``TransportClient.connect``).

It confines itself once started (``transport_proc.sandbox``; ``--no-sandbox`` turns that off,
for debugging). Confined, it can write to no file: standard output or error that is a file is
written through a pipe and ``cat``. When a resolver file (``/etc/hosts``, ``/etc/resolv.conf``...)
or the CA bundle is replaced by a new file, which the sandbox cannot read, it tells its clients
(``draining``), finishes its running jobs and exits with status 75 (EX_TEMPFAIL), to be started
again (systemd's ``Restart=on-failure``).
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import logging
import os
import resource
import signal
import sys
from typing import TYPE_CHECKING

from icegather.shared.platform_support import unsupported_platform
from icegather.transport_proc.ipc.endpoint import EndpointRefused, remove_private_ipc_directory

if TYPE_CHECKING:
    from icegather.transport_proc.sandbox.confinement import Sandbox

# Net container allocations between two collections of the youngest generation (CPython: 700),
# and young collections between two of the middle generation (CPython: 10).
GC_THRESHOLD = 10_000
GC_MIDDLE_THRESHOLD = 20


def main(argv: list[str] | None = None) -> None:
    # Until tune_garbage_collector: start-up makes what lives as long as the process.
    gc.disable()
    # No signal blocked, whatever the parent held (the command line holds Ctrl-C while it spawns).
    signal.pthread_sigmask(signal.SIG_SETMASK, ())
    unsupported = unsupported_platform()
    if unsupported is not None:
        sys.exit(f"icegather.transport_proc: {unsupported}")
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["keygen"]:
        sys.exit(keygen(argv[1:]))
    load_aioice_without_its_agent()
    import asyncio

    from icegather.transport_proc.service import MAX_JOBS, run_service  # after aioice's set-up

    parser = argparse.ArgumentParser(
        prog="python -m icegather.transport_proc",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--bind", required=True, help="ipc://PATH or tcp://HOST:PORT (tcp needs CURVE)")
    parser.add_argument("--watch-stdin", action="store_true", help="exit when stdin is closed")
    parser.add_argument(
        "--remove-runtime-dir",
        action="store_true",
        help="on exit, remove the ipc:// socket and its directory (if nothing else is in it)",
    )
    parser.add_argument("--curve-secret", metavar="FILE", help="the service's NAME.key_secret (tcp:// only)")
    parser.add_argument("--curve-clients", metavar="DIR", help="directory of the accepted clients' NAME.key files")
    parser.add_argument(
        "--max-jobs",
        type=int,
        default=MAX_JOBS,
        metavar="N",
        help=f"gatherings and audits run at once; more are refused (default {MAX_JOBS})",
    )
    parser.add_argument("--log-level", default="WARNING", help="DEBUG, INFO, WARNING (default) or ERROR")
    parser.add_argument("--no-sandbox", dest="sandbox", action="store_false",
                        help="do not confine the process (for debugging; it parses what any server sends)")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="transport[%(process)d] %(levelname)s %(name)s: %(message)s"
    )
    status = 0
    try:
        curve = None
        if args.curve_secret:
            # tcp:// only: kept out of a private transport's start, and loaded before confinement.
            import zmq.auth.asyncio  # noqa: F401

            from icegather.shared.protocol.curve_keys import CurveKeys

            curve = CurveKeys.load(args.curve_secret)
        sandbox = None
        if args.sandbox:
            sandbox = confined(args.bind, args.remove_runtime_dir, args.curve_clients, args.max_jobs)
        else:
            logging.warning("running without a sandbox (--no-sandbox)")
            raise_open_file_limit()
        tune_garbage_collector()
        status = asyncio.run(
            run_service(args.bind, args.watch_stdin, curve, args.curve_clients, args.max_jobs, sandbox)
        )
    except (EndpointRefused, ValueError, OSError) as exc:
        sys.exit(f"icegather.transport_proc: {exc}")
    except KeyboardInterrupt:
        pass
    finally:
        if args.remove_runtime_dir and args.bind.startswith("ipc://"):
            remove_private_ipc_directory(args.bind)
    if status:
        sys.exit(status)


def confined(bind: str, remove_runtime_dir: bool, curve_clients: str | None, max_jobs: int) -> Sandbox:
    """The sandbox, prepared: every layer but the seccomp filter, which ``run_service`` adds
    once its IPC socket is bound."""
    from icegather.shared.runtime_dirs import is_transport_runtime_dir
    from icegather.transport_proc.ipc.endpoint import private_ipc_directory, remove_stale_socket
    from icegather.transport_proc.sandbox.confinement import Sandbox, SandboxPlan, pipe_streams_that_are_files

    pipe_streams_that_are_files()
    ipc_socket = None
    if bind.startswith("ipc://"):
        directory = private_ipc_directory(bind)  # made while it still can be
        if remove_runtime_dir and not is_transport_runtime_dir(directory):
            raise EndpointRefused(
                f"--remove-runtime-dir is for a directory a main process made for its transport, not {directory}: "
                "the sandbox grants removal there only"
            )
        ipc_socket = str(directory / bind.rpartition("/")[2])
        remove_stale_socket(ipc_socket)  # confined, it could not
    sandbox = Sandbox(SandboxPlan(ipc_socket, remove_runtime_dir, curve_clients, max_jobs))
    sandbox.prepare()
    return sandbox


def raise_open_file_limit() -> None:
    """Every gathering holds sockets; thousands of peer connections need more than the usual
    soft limit of 1024 open files. Raising it up to the hard limit needs no privilege."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def load_aioice_without_its_agent() -> None:
    """Register the ``aioice`` package without running its ``__init__``, so that importing
    ``aioice.stun`` loads the STUN codec (and ``aioice.utils``) alone.

    aioice's ``__init__`` imports its ICE agent, and with it ifaddr (whose import runs
    ``ldconfig -p`` to find libc) and dnspython (for mDNS): about 45 ms of a transport that
    otherwise starts in about 80, and a one-shot check waits for that start. The transport uses
    the STUN codec only. This is done in this process's entry point alone: a program that
    imports the transport's modules into its own process gets aioice the ordinary way."""
    if "aioice" not in sys.modules:
        spec = importlib.util.find_spec("aioice")
        if spec is not None:  # not installed: the import that needs it says so
            sys.modules["aioice"] = importlib.util.module_from_spec(spec)


def tune_garbage_collector() -> None:
    """Start the cyclic collector, which ``main`` stopped, for what the transport serves.

    Start-up (imports, the sandbox) makes about 40,000 objects that live as long as the process
    (modules, classes, tables), and a few hundred that form cycles and are dropped (about
    100 KB: functions and namespaces that import-time code made). Collecting while they are made
    rescans the survivors again and again for nothing: about 10 ms of a transport's start,
    which a one-shot check waits for. They are frozen instead, the dropped ones with them, and
    kept out of every later collection.

    A gathering keeps a few hundred container objects (tasks, futures, sockets, structs) alive
    until it ends. With CPython's default thresholds (700, 10, 10) the cyclic collector rescans
    them over and over while a burst of gatherings runs, and the growing heap sets off full
    collections: a quarter of the transport's CPU with 1,000 gatherings at once
    (``scripts/bench_vs_aioice.py``). Collecting every 10,000 net allocations instead keeps the
    young generation's scans rare.

    What a young collection leaves is mostly a running gathering's state, which its end frees
    by reference counting; the cycles a gathering drops are found young. A collection of the
    middle generation rescans the state of every gathering in flight and frees next to
    nothing, so it runs every 20 young collections rather than 10; not rarer, since each is a
    pause as long as the live state is large, and a pause inflates every round trip measured
    across it. Measured (one run each, 1,000 STUN + TURN and 10,000 STUN gatherings at once):
    the collector's time fell by 43 % and 16 %, and its longest pause from 47 to 13 ms and from
    113 to 73 ms; every 100 young collections, a burst of 10,000 paused for 436 ms. (This is
    the generational collector of CPython up to 3.13; 3.14's incremental one reads the second
    threshold otherwise.)"""
    gc.freeze()
    gc.set_threshold(GC_THRESHOLD, GC_MIDDLE_THRESHOLD, gc.get_threshold()[2])
    gc.enable()


def keygen(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m icegather.transport_proc keygen",
        description="write a CURVE key pair: DIR/NAME.key and DIR/NAME.key_secret",
    )
    parser.add_argument("directory")
    parser.add_argument("name")
    args = parser.parse_args(argv)
    from icegather.shared.protocol.curve_keys import generate

    public, secret = generate(args.directory, args.name)
    print(f"public key: {public}\nsecret key: {secret} (keep it private)")
    return 0


if __name__ == "__main__":
    main()
    # Everything is sent (run_service terminated its ZeroMQ context) and the runtime directory
    # removed: the interpreter's teardown would only free what the kernel takes back at exit,
    # and it was most of a one-shot transport's end. The command line does the same.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)

"""The sandbox's policy as data (``transport_proc/sandbox/policy.py``): the files Landlock
leaves, the system calls seccomp allows and with which arguments, and the resource limits."""

from __future__ import annotations

import ctypes
import platform
import socket

import pytest

from icegather.transport_proc.sandbox import policy
from icegather.transport_proc.sandbox.policy import ArgIs, PathRule, SyscallRule, open_files_limit, path_rules

# Rights that read, or that remove what the transport made; nothing that writes, makes a file
# or runs one.
HARMLESS = policy.READ_FILE | policy.READ_DIR | policy.MAKE_SOCK | policy.REMOVE_FILE | policy.REMOVE_DIR


def test_landlock_leaves_only_the_resolvers_files_readable_to_a_transport_without_an_ipc_socket():
    assert path_rules(None, False, None) == tuple(PathRule(path, policy.READ_FILE) for path in policy.RESOLVER_FILES)


def test_landlock_lets_the_transport_make_its_ipc_socket_and_remove_its_directory():
    rules = set(path_rules("/run/icegather/transport-x/transport", True, None)) - set(path_rules(None, False, None))

    assert rules == {PathRule("/run/icegather/transport-x", policy.MAKE_SOCK | policy.REMOVE_FILE),
                     PathRule("/run/icegather", policy.REMOVE_DIR)}


def test_landlock_grants_no_removal_in_a_directory_that_stays():
    rules = path_rules("/srv/icegather/transport", False, None)

    # A right covers everything beneath its directory: the user's other files there stay safe.
    assert [rule.path for rule in rules if rule.access & (policy.REMOVE_DIR | policy.REMOVE_FILE)] == []
    assert PathRule("/srv/icegather", policy.MAKE_SOCK) in rules


def test_landlock_lets_a_curve_service_read_its_clients_keys_and_never_grants_a_write():
    every = path_rules("/run/t/transport", True, "/etc/icegather/clients")

    assert PathRule("/etc/icegather/clients", policy.READ_FILE | policy.READ_DIR) in every
    assert all(rule.access & ~HARMLESS == 0 for rule in every)


@pytest.mark.parametrize(("abi", "handled"), [(0, 0), (1, (1 << 13) - 1), (3, (1 << 15) - 1), (7, (1 << 16) - 1)])
def test_landlock_handles_every_right_the_abi_knows(abi, handled):
    assert policy.handled_access(abi) == handled


def rules_for(name: str, pid: int = 4242, threads: tuple[int, ...] = ()) -> list[SyscallRule]:
    return [rule for rule in policy.syscall_rules(pid, threads) if rule.name == name]


@pytest.mark.parametrize("name", ["execve", "execveat", "ptrace", "process_vm_readv", "mount", "umount2", "chroot",
                                  "setns", "unshare", "bpf", "init_module", "kexec_load", "reboot"])
def test_a_call_only_an_attacker_makes_kills_whatever_its_arguments(name):
    assert rules_for(name) == [SyscallRule(name, "kill")]


@pytest.mark.parametrize("name", ["fork", "vfork", "chmod", "fchmod", "fchmodat", "chown", "fchown", "fchownat",
                                  "setuid", "setgid", "socketpair", "listen", "pidfd_open", "pidfd_send_signal",
                                  "tkill", "rt_sigqueueinfo", "memfd_create", "io_uring_setup", "link", "rename",
                                  "renameat2", "symlink", "mkdir", "mknod", "truncate", "seccomp", "personality"])
def test_a_call_a_library_may_probe_has_no_rule_and_fails_with_eperm(name):
    assert rules_for(name) == []


def test_socket_allows_udp_and_tcp_sockets_of_the_internet_families_only():
    allowed = {tuple(condition.equals for condition in rule.conditions) for rule in rules_for("socket")}

    assert allowed == {
        (family, kind, protocol)
        for family in (socket.AF_INET, socket.AF_INET6)
        for kind, named in ((socket.SOCK_DGRAM, socket.IPPROTO_UDP), (socket.SOCK_STREAM, socket.IPPROTO_TCP))
        for protocol in (0, named)
    }
    for rule in rules_for("socket"):
        family, kind, protocol = rule.conditions
        assert (rule.action, family.mask, kind.mask, protocol.mask) == ("allow", -1, policy.SOCK_TYPE_MASK, -1)


@pytest.mark.parametrize("name", ["kill", "tgkill"])
def test_a_signal_to_itself_is_allowed_and_to_any_other_process_kills(name):
    assert rules_for(name, pid=4242) == [SyscallRule(name, "allow", (ArgIs(0, 4242),)),
                                         SyscallRule(name, "kill", (ArgIs(0, 4242, negate=True),))]


def test_threads_but_no_processes_and_clone3_answers_enosys():
    assert rules_for("clone") == [SyscallRule("clone", "allow", (ArgIs(0, policy.CLONE_THREAD, policy.CLONE_THREAD),))]
    assert rules_for("clone3") == [SyscallRule("clone3", "enosys")]


@pytest.mark.parametrize("name", ["mmap", "mprotect"])
def test_memory_is_never_made_executable(name):
    assert rules_for(name) == [SyscallRule(name, "allow", (ArgIs(2, 0, policy.PROT_EXEC),))]


def test_limits_may_be_read_for_the_process_itself_only_and_never_set():
    assert rules_for("prlimit64", threads=(4242, 4243)) == [
        SyscallRule("prlimit64", "allow", (ArgIs(0, own), ArgIs(2, 0))) for own in (0, 4242, 4243)]
    assert rules_for("setrlimit") == []


@pytest.mark.parametrize("name", policy.OWN_ONLY)
def test_scheduling_is_read_and_set_for_the_process_itself_and_its_threads_only(name):
    assert rules_for(name, threads=(4242, 4243, 4250)) == [
        SyscallRule(name, "allow", (ArgIs(0, own),)) for own in (0, 4242, 4243, 4250)]
    assert rules_for("sched_setaffinity") == [] and rules_for("setpriority") == []


@pytest.mark.skipif(platform.machine() != "x86_64", reason="some names are x86_64's alone (select, iopl)")
def test_every_rule_names_a_system_call_libseccomp_knows():
    """libseccomp leaves out a name it does not know: a misspelt rule would vanish silently."""
    library = ctypes.CDLL("libseccomp.so.2")
    library.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]

    resolve = library.seccomp_syscall_resolve_name
    unknown = [rule.name for rule in policy.syscall_rules(1) if resolve(rule.name.encode()) < 0]

    assert unknown == []


def test_the_jobs_may_hold_together_what_the_open_file_limit_leaves_beside_the_process_s_own():
    assert policy.file_budget(open_files_limit(16_384, 20_000)) == 20_000 - policy.BASE_FILES
    assert policy.file_budget(open_files_limit(100, 1 << 20)) == 100 * policy.FILES_PER_JOB
    assert policy.file_budget(100) == 0


def test_open_files_grow_with_the_jobs_allowed_up_to_the_hard_limit():
    assert open_files_limit(0, 1 << 20) == policy.BASE_FILES
    assert open_files_limit(1000, 1 << 20) - open_files_limit(999, 1 << 20) == policy.FILES_PER_JOB
    assert open_files_limit(1000, 1024) == 1024

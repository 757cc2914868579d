"""What a transport's ``server_hello`` says of its confinement, layer by layer: each layer's
state, and whether this kernel could have it (a layer the kernel lacks is not held against the
transport). Sans-IO; ``icegather sandbox`` prints it."""

from __future__ import annotations

from dataclasses import dataclass

from icegather.shared.structs import SandboxInfo

SECCOMP_MODES = {0: "off", 1: "strict", 2: "filter"}


@dataclass(frozen=True)
class Layer:
    name: str
    on: bool
    detail: str
    # False when this kernel cannot have the layer at all.
    supported: bool = True


def _limit(value: int) -> str:
    return "unlimited" if value < 0 else str(value)


def layers(info: SandboxInfo) -> tuple[Layer, ...]:
    landlock = (
        Layer("landlock", info.landlock_enforced,
              f"ABI {info.landlock_abi}, " + ("no file access but name resolution's" if info.landlock_enforced
                                               else "not enforced"))
        if info.landlock_abi > 0
        else Layer("landlock", False, "unavailable: this kernel has no Landlock", supported=False)
    )
    return (
        Layer("rlimits", info.max_file_size == 0 and info.max_core_size == 0 and info.max_open_files >= 0,
              f"file size {_limit(info.max_file_size)}, core {_limit(info.max_core_size)}, "
              f"open files {_limit(info.max_open_files)}"),
        Layer("capabilities", info.capabilities == 0,
              {0: "none", -1: "not known"}.get(info.capabilities, f"effective {info.capabilities:#x}")),
        Layer("no-new-privs", info.no_new_privs, "set" if info.no_new_privs else "not set"),
        Layer("seccomp", info.seccomp_mode == 2,
              f"mode {SECCOMP_MODES.get(info.seccomp_mode, info.seccomp_mode)}, {info.seccomp_filters} filter(s)"),
        landlock,
    )


def fully_confined(info: SandboxInfo) -> bool:
    """Every layer this kernel supports is on."""
    return info.enabled and all(layer.on for layer in layers(info) if layer.supported)

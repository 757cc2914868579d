"""Running ``icegather audit`` as a user does, for the audit's tests: the installed command,
loopback local addresses only, NDJSON read back into records, and what they say of the peers."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from commands import ICEGATHER
from local_coturn import Coturn

LOOPBACK = ["--local-address", "127.0.0.1", "--local-address", "::1"]
FAST = ["--rto", "0.05", "--max-sends", "2", "--final-wait", "2"]


def audit(*args: str, env: dict[str, str] | None = None) -> tuple[int, list[dict]]:
    result = subprocess.run([ICEGATHER, "audit", "--json", *LOOPBACK, *args], capture_output=True, text=True,
                            timeout=120, env={**os.environ, **(env or {})})
    assert result.stderr == ""
    return result.returncode, [json.loads(line) for line in result.stdout.splitlines()]


def checks(records: list[dict]) -> list[dict]:
    return [record for record in records if record["type"] == "auditcheck"]


def granted(records: list[dict]) -> dict[str, str]:
    """Peer -> severity of each permission the server granted."""
    peers = [r for r in checks(records) if r["name"].endswith(" peer")]
    return {r["subject"]: r["severity"] for r in peers if r["severity"] != "ok"}


def credential_file(turn: Coturn) -> Path:
    """A file holding the coturn's password, as ``--credential-file`` takes it."""
    credential = Path(turn.workdir) / "credential"
    credential.write_text(turn.password)
    return credential

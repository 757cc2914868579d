#!/usr/bin/env python3
"""Run icegather against local coturns: two healthy TURN URLs, a TURN server that advertises a
relayed address it does not use (a wrong ``external-ip``), and three broken servers.

Started by scripts/demo.sh, which installs what it needs first. The coturn user's password is
generated for this run and shown nowhere: icegather's output never contains it.
"""

from __future__ import annotations

import json
import secrets
import shlex
import subprocess
import sys
import tempfile

from commands import ICEGATHER
from local_coturn import free_port, local_coturn


def main() -> int:
    password = secrets.token_urlsafe(12)
    with (
        local_coturn(password=password) as turn,
        local_coturn(password=password, extra_args=["--external-ip=127.0.0.77/127.0.0.1"]) as misconfigured,
        tempfile.TemporaryDirectory() as workdir,
    ):
        configuration = {
            "iceServers": [
                turn.ice_server("turn"),
                turn.ice_server("turn", transport="tcp"),
                {**turn.ice_server("turn"), "urls": turn.url("turn") + "?transport=udp", "credential": "wrong"},
                misconfigured.ice_server("turn"),
                {"urls": f"stun:127.0.0.1:{free_port()}"},
                {"urls": "stun:stun1.invalid:3478"},
            ]
        }
        config_path = f"{workdir}/ice.json"
        with open(config_path, "w", encoding="utf-8") as file:
            json.dump(configuration, file)
        servers = ",\n".join(f"  {json.dumps(server)}" for server in configuration["iceServers"])
        shown = f'{{"iceServers": [\n{servers}\n]}}'.replace(password, "<password>")
        print(f"# coturn runs at {turn.url()}, and at {misconfigured.url()} told external-ip=127.0.0.77/127.0.0.1;\n"
              f"# icegather gets this configuration:\n{shown}\n", flush=True)
        arguments = ["--config", config_path]
        print(f"$ {shlex.join(['icegather', *arguments])}", flush=True)
        status = subprocess.call([ICEGATHER, *arguments])
        print(f"# exit status {status}: 1 means the diagnosis found something")
        return 0 if status == 1 else 1


if __name__ == "__main__":
    sys.exit(main())

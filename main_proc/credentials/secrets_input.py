"""Input that carries secrets, read so that they never need to be typed on a command line: a
credential or shared secret kept in a file, and the time-limited credentials minted from a
shared secret. Used by the command line and the exporter alike; anything the user must fix
raises ``BadInput``, whose message names the file, never its content."""

from __future__ import annotations

from dataclasses import dataclass, field

from icegather.main_proc.credentials.rest_credentials import mint


class BadInput(Exception):
    """Input the user must fix; the message is printed as one line."""


@dataclass(frozen=True)
class Minting:
    """Mints TURN credentials from a shared secret (the TURN REST API), afresh for each round
    or probe."""

    secret: bytes = field(repr=False)
    user: str
    ttl: int

    def credentials(self, now: float) -> tuple[str, str]:
        return mint(self.secret, self.user, self.ttl, now)


def read_secret_file(path: str, what: str) -> str:
    """A secret kept in a file (so that it is never a command-line argument), without the
    line end an editor adds. The error names the file, never its content."""
    try:
        with open(path, encoding="utf-8") as file:
            return file.read().rstrip("\r\n")
    except OSError as exc:
        raise BadInput(f"cannot read the {what} file {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise BadInput(f"the {what} file {path} is not UTF-8 text") from None

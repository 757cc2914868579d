"""Time-limited TURN credentials, minted from a shared secret.

Most TURN deployments (coturn ``use-auth-secret``, as Matrix/Synapse, Nextcloud Talk, Jitsi and
BigBlueButton set it up) follow the TURN REST API draft (draft-uberti-behave-turn-rest): the
username is ``<expiry unix time>:<user>`` and the credential is
``base64(HMAC-SHA1(shared secret, username))``. Pure functions: minting, and reading the expiry
back out of a username, which is what lets a diagnosis tell an expired credential from a wrong
secret.
"""

from __future__ import annotations

import base64
import re

_EXPIRY = re.compile(r"(\d{9,12})(?::.*)?", re.DOTALL)


def mint(secret: bytes, user: str, ttl: int, now: float) -> tuple[str, str]:
    """The (username, credential) pair valid for ``ttl`` seconds from ``now``."""
    # Imported on first use: OpenSSL's hash library costs 2 ms of every start, bad input's too.
    import hashlib
    import hmac

    username = f"{int(now) + ttl}:{user}"
    digest = hmac.new(secret, username.encode("utf-8"), hashlib.sha1).digest()
    return username, base64.b64encode(digest).decode("ascii")


def username_expiry(username: str) -> int | None:
    """The expiry (unix time) a REST-style username carries, or None for any other username."""
    match = _EXPIRY.fullmatch(username)
    return int(match[1]) if match else None

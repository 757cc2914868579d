"""Why an attempt on a server failed, as an exception carrying the event's code and text.

A server that answers with an error response fails the attempt with that response's code and
reason phrase. Every other failure is 701 (W3C: the server could not be reached), and its text
names the cause, so that a person reading the event knows what to check. The texts are built
here, in one place, by pure functions.
"""

from __future__ import annotations

import ipaddress
import unicodedata

from aioice import stun

from icegather.shared.structs import SERVER_NOT_REACHABLE

# RFC 8489 section 14.8: the reason phrase is fewer than 128 characters.
MAX_REASON_LENGTH = 127


class AttemptFailed(Exception):
    """An attempt ended without a candidate; ``code`` and ``text`` go into the event."""

    def __init__(self, code: int, text: str) -> None:
        super().__init__(f"{code} {text}")
        self.code = code
        self.text = text
        # The local socket that failed, when it is gone before the failure is reported.
        self.local_address: tuple[str, int] | None = None


def unreachable(text: str) -> AttemptFailed:
    return AttemptFailed(SERVER_NOT_REACHABLE, text)


def server_error(code: int, reason: str) -> AttemptFailed:
    """A server's error response. Its reason phrase is untrusted text: shown, never interpreted."""
    if not 300 <= code <= 699:
        return unreachable(f"the server sent an invalid error code {code}")
    return AttemptFailed(code, sanitize_reason(reason) or f"error {code} (no reason phrase)")


def error_response(response: stun.Message, server: tuple[str, int]) -> AttemptFailed:
    """The failure a STUN error response stands for."""
    error = response.attributes.get("ERROR-CODE")
    if error is None:
        return malformed_response(server, "error response without ERROR-CODE")
    return server_error(*error)


def sanitize_reason(reason: str) -> str:
    """Drop control and format characters and cap the length of a server's reason phrase."""
    printable = "".join(
        ch if unicodedata.category(ch)[0] != "C" else " " for ch in reason
    )
    return " ".join(printable.split())[:MAX_REASON_LENGTH]


def endpoint(address: tuple[str, int]) -> str:
    """``1.2.3.4:3478`` or ``[::1]:3478``."""
    host, port = address[0], address[1]
    if ipaddress.ip_address(host).version == 6:
        return f"[{host}]:{port}"
    return f"{host}:{port}"


def no_response(server: tuple[str, int], sends: int, seconds: float, transport: str) -> AttemptFailed:
    if transport == "udp":
        return unreachable(
            f"no response from {endpoint(server)} after {sends} attempts in {seconds:g} s"
        )
    return unreachable(f"no response from {endpoint(server)} over {transport.upper()} in {seconds:g} s")


def port_unreachable(server: tuple[str, int]) -> AttemptFailed:
    return unreachable(f"port unreachable: ICMP says nothing listens on UDP {endpoint(server)}")


def connection_refused(server: tuple[str, int]) -> AttemptFailed:
    return unreachable(f"connection refused by {endpoint(server)} (TCP)")


def connect_timeout(server: tuple[str, int], seconds: float) -> AttemptFailed:
    return unreachable(f"TCP connection to {endpoint(server)} not established in {seconds:g} s")


def connection_lost(server: tuple[str, int], error: BaseException | None) -> AttemptFailed:
    if isinstance(error, ConnectionResetError):
        return unreachable(f"connection reset by {endpoint(server)}")
    if error is None:
        return unreachable(f"connection closed by {endpoint(server)} before it answered")
    return unreachable(f"connection to {endpoint(server)} lost: {describe_os_error(error)}")


def tls_failed(server: tuple[str, int], error: BaseException) -> AttemptFailed:
    reason = getattr(error, "reason", None) or describe_os_error(error)
    verify = getattr(error, "verify_message", None)
    if verify:
        reason = f"{reason}: {verify}"
    return unreachable(f"TLS handshake with {endpoint(server)} failed: {reason}")


def host_lookup_failed(host: str, reason: str) -> AttemptFailed:
    return unreachable(f"host lookup failed for {host}: {reason}")


def socket_failed(local_address: str, error: BaseException) -> AttemptFailed:
    return unreachable(f"socket could not be created on {local_address}: {describe_os_error(error)}")


def no_local_address(family: str, host: str) -> AttemptFailed:
    return unreachable(f"no local {family} address to reach {host} from")


def malformed_response(server: tuple[str, int], what: str) -> AttemptFailed:
    return unreachable(f"unusable response from {endpoint(server)}: {what}")


def describe_os_error(error: BaseException) -> str:
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return str(error) or type(error).__name__

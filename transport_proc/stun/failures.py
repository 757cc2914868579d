"""Why an attempt on a server failed, as an exception carrying the event's code and text.

A server that answers with an error response fails the attempt with that response's code and
reason phrase. Every other failure is 701 (W3C: the server could not be reached), and its text
names the cause, so that a person reading the event knows what to check. Each failure also
carries its cause as data (``shared.vocabulary.failure_causes``), which is what programs match on. The
texts and causes are made here, in one place, by pure functions.
"""

from __future__ import annotations

import unicodedata

from aioice import stun

from icegather.shared.net.endpoints import endpoint
from icegather.shared.structs import SERVER_NOT_REACHABLE
from icegather.shared.vocabulary.failure_causes import FailureCause
from icegather.shared.vocabulary.stun_codes import describe

# RFC 8489 section 14.8: the reason phrase is fewer than 128 characters.
MAX_REASON_LENGTH = 127
# A DNS name has at most 253 characters (RFC 1035); a URL's host is not checked against that.
MAX_SHOWN_HOST = 253


class AttemptFailed(Exception):
    """An attempt ended without a candidate; ``code``, ``text`` and ``cause`` go into the event."""

    def __init__(self, code: int, text: str, cause: FailureCause) -> None:
        super().__init__(f"{code} {text}")
        self.code = code
        self.text = text
        self.cause = cause
        # The local socket that failed, when it is gone before the failure is reported.
        self.local_address: tuple[str, int] | None = None


def unreachable(cause: FailureCause, text: str) -> AttemptFailed:
    return AttemptFailed(SERVER_NOT_REACHABLE, text, cause)


def server_error(code: int, reason: str, cause: FailureCause = "server_error") -> AttemptFailed:
    """A server's error response. Its reason phrase is untrusted text: shown, never interpreted;
    without one, the registry's name for the code stands in, and says so."""
    if not 300 <= code <= 699:
        return unreachable("malformed_response", f"the server sent an invalid error code {code}")
    known = describe(code)
    fallback = f"{known.name if known else f'error {code}'} (the server sent no reason phrase)"
    return AttemptFailed(code, sanitize_reason(reason) or fallback, cause)


def signed_request_refused(refusal: AttemptFailed) -> AttemptFailed:
    """An error response to a request signed with the long-term credential."""
    return AttemptFailed(refusal.code, refusal.text, "signed_request_refused")


def error_response(response: stun.Message, server: tuple[str, int]) -> AttemptFailed:
    """The failure a STUN error response stands for."""
    error = response.attributes.get("ERROR-CODE")
    if error is None:
        return malformed_response(server, "error response without ERROR-CODE")
    return server_error(*error)


def sanitize_reason(reason: str) -> str:
    """Drop control and format characters and cap the length of a server's reason phrase."""
    if reason.isprintable():  # the usual phrase: no character of category C, no space but " "
        return " ".join(reason.split())[:MAX_REASON_LENGTH]
    printable = "".join(
        ch if unicodedata.category(ch)[0] != "C" else " " for ch in reason
    )
    return " ".join(printable.split())[:MAX_REASON_LENGTH]


def no_response(server: tuple[str, int], sends: int, seconds: float, transport: str) -> AttemptFailed:
    if transport == "udp":
        return unreachable(
            "no_response", f"no response from {endpoint(server)} after {sends} attempts in {seconds:g} s"
        )
    return unreachable("no_response", f"no response from {endpoint(server)} over {transport.upper()} in {seconds:g} s")


def answer_unverified(server: tuple[str, int], answers: int) -> AttemptFailed:
    return unreachable(
        "answer_unverified",
        f"{endpoint(server)} answered {_times(answers)}, but without a MESSAGE-INTEGRITY that verifies "
        "(discarded, RFC 8489 section 9.2.5)",
    )


def answer_wrong_transaction(server: tuple[str, int], answers: int) -> AttemptFailed:
    return unreachable(
        "answer_wrong_transaction",
        f"{endpoint(server)} answered {_times(answers)}, but with another transaction ID "
        "(discarded, RFC 8489 section 6.3)",
    )


def _times(count: int) -> str:
    return "once" if count == 1 else f"{count} times"


def send_failed(server: tuple[str, int], error: OSError) -> AttemptFailed:
    """This machine refused to send to the server: nothing went out, so no silence is claimed."""
    return unreachable("send_failed", f"cannot send to {endpoint(server)}: {describe_os_error(error)}")


def connection_refused(server: tuple[str, int]) -> AttemptFailed:
    return unreachable("connection_refused", f"connection refused by {endpoint(server)} (TCP)")


def connect_timeout(server: tuple[str, int], seconds: float) -> AttemptFailed:
    return unreachable("connect_timeout", f"TCP connection to {endpoint(server)} not established in {seconds:g} s")


def connection_lost(server: tuple[str, int], error: BaseException | None) -> AttemptFailed:
    if isinstance(error, ConnectionResetError):
        return unreachable("connection_reset", f"connection reset by {endpoint(server)}")
    if error is None:
        return unreachable("connection_closed", f"connection closed by {endpoint(server)} before it answered")
    return unreachable("connection_lost", f"connection to {endpoint(server)} lost: {describe_os_error(error)}")


def tls_failed(server: tuple[str, int], error: BaseException) -> AttemptFailed:
    reason = getattr(error, "reason", None) or describe_os_error(error)
    verify = getattr(error, "verify_message", None)
    if verify:
        reason = f"{reason}: {verify}"
    return unreachable("tls_failed", f"TLS handshake with {endpoint(server)} failed: {reason}")


def tls_timeout(server: tuple[str, int], seconds: float) -> AttemptFailed:
    return unreachable("tls_timeout", f"TLS handshake with {endpoint(server)} did not finish in {seconds:g} s")


def host_lookup_failed(host: str, reason: str) -> AttemptFailed:
    return unreachable("dns", f"host lookup failed for {shown_host(host)}: {reason}")


def socket_failed(local_address: str, error: BaseException) -> AttemptFailed:
    return unreachable("socket_failed", f"socket could not be created on {local_address}: {describe_os_error(error)}")


def no_local_address(family: str, host: str) -> AttemptFailed:
    return unreachable("no_local_address", f"no local {family} address to reach {shown_host(host)} from")


def shown_host(host: str) -> str:
    """A host name as a text shows it: a name has no length limit in a URL, a text has one,
    so a long one is cut, saying so."""
    if len(host) <= MAX_SHOWN_HOST:
        return host
    return f"{host[:MAX_SHOWN_HOST - 40]}... ({len(host)} characters)"


def redirect_unreachable(alternate: tuple[str, int], local_ip: str) -> AttemptFailed:
    return unreachable(
        "redirect_unreachable", f"300 Try Alternate to {endpoint(alternate)}, which {local_ip} cannot reach"
    )


def redirect_not_followed(alternate: tuple[str, int]) -> AttemptFailed:
    return unreachable(
        "redirect_not_followed",
        f"300 Try Alternate to {endpoint(alternate)}, not followed: the credentials go to the configured server only",
    )


def malformed_response(server: tuple[str, int], what: str) -> AttemptFailed:
    return unreachable("malformed_response", f"unusable response from {endpoint(server)}: {what}")


def internal_error(error: BaseException) -> AttemptFailed:
    """A bug in icegather ended this URL's attempt (the others go on); the log has the traceback."""
    return unreachable("internal_error", f"internal error in icegather: {type(error).__name__}")


def describe_os_error(error: BaseException) -> str:
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return str(error) or type(error).__name__


def mapped_address_mismatch(server: tuple[str, int], problem: str) -> AttemptFailed:
    """A Binding success whose mapped address cannot be right (``mapped_address``)."""
    return unreachable("mapped_address_mismatch", f"wrong mapped address from {endpoint(server)}: {problem}")

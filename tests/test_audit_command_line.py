"""``icegather audit`` as a user runs it: the text view groups each URL with the worst first,
without credentials the peers are not checked, the exit is 1 and the advice is given once (in
text and in JSON), the help says so, and bad input exits 2 with one line."""

from __future__ import annotations

import subprocess

from audit_helpers import LOOPBACK, audit, checks, credential_file
from commands import ICEGATHER


def test_the_text_view_groups_each_url_with_the_worst_first(coturn):
    credential = credential_file(coturn)
    result = subprocess.run(
        [ICEGATHER, "audit", *LOOPBACK, coturn.url(), "-u", coturn.username, "--credential-file", str(credential)],
        capture_output=True, text=True, timeout=120,
    )

    lines = result.stdout.splitlines()
    assert lines[0] == coturn.url()
    severities = [line.split()[0] for line in lines[1:-1] if not line.strip().startswith("fix:")]
    order = ["CRITICAL", "WARNING", "NOT", "INFO", "ok"]
    assert severities == sorted(severities, key=order.index)
    assert lines[-1].startswith("audit: ") and coturn.password not in result.stdout


def test_without_credentials_the_peers_are_not_checked_the_exit_is_1_and_the_advice_is_given_once(coturn):
    urls = [coturn.url(), coturn.url(transport="tcp")]
    result = subprocess.run([ICEGATHER, "audit", *LOOPBACK, *urls], capture_output=True, text=True, timeout=120)

    assert result.returncode == 1
    lines = result.stdout.splitlines()
    not_checked = [line.split(":")[0].split() for line in lines if "NOT CHECKED" in line]
    assert not_checked == [["NOT", "CHECKED", "authenticated", "checks"]] * 2
    [advice] = [line for line in lines if "--credential-file" in line]  # said once, for both URLs
    assert "2 TURN URLs" in advice and "loopback" in advice
    assert lines[-1] == "audit: not checked (0 critical, 0 warning, 2 not checked, 2 info, 2 ok)"


def test_without_credentials_the_json_summary_counts_not_checked_and_gives_the_advice_once(coturn):
    status, records = audit(coturn.url())

    summary = records[-1]
    assert (summary["notChecked"], summary["verdict"], summary["exitStatus"]) == (1, "not checked", 1)
    assert "1 TURN URL " in summary["advice"]
    assert not any("--credential-file" in (record["fix"] or "") for record in checks(records))
    assert status == 1


def test_the_help_says_that_not_checked_exits_1():
    result = subprocess.run([ICEGATHER, "audit", "--help"], capture_output=True, text=True, timeout=60)

    assert "'not checked', never ok" in result.stdout
    assert "0 nothing critical, warning or not checked; 1 something is" in " ".join(result.stdout.split())


def test_bad_input_exits_2_with_one_line():
    result = subprocess.run([ICEGATHER, "audit", "http://x"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "SyntaxError" in result.stderr

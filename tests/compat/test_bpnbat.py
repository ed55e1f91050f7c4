"""bpnbat: logging in to and out of a real primary."""

from __future__ import annotations

import json
import stat
from typing import TYPE_CHECKING

import pytest

from hostca.compat.exit_status import (
    EXIT_FINGERPRINT,
    EXIT_NOT_CONFIRMED,
    EXIT_NOT_LOGGED_IN,
    EXIT_USAGE,
)

from conftest import ADMIN_PASSWORD

if TYPE_CHECKING:
    from conftest import CompatCli

pytestmark = pytest.mark.e2e


def test_login_with_answer_file(nb: CompatCli) -> None:
    answers = nb.answer_file(
        server=nb.server_address, user="admin", password=ADMIN_PASSWORD, fingerprint=nb.ca_sha256
    )

    result = nb.ok("bpnbat", "-login", "-logintype", "WEB", "-info", str(answers))

    assert result.stdout.startswith(f"Logged in to {nb.server.url} as admin")
    assert ADMIN_PASSWORD not in result.stdout + result.stderr
    session = json.loads(nb.session_file.read_text())
    assert session["server"] == nb.server.url
    assert stat.S_IMODE(nb.session_file.stat().st_mode) == 0o600
    nb.ok("nbcertcmd", "-listTokens")


def test_login_with_options(nb: CompatCli) -> None:
    password_file = nb.home / "password"
    password_file.write_text(ADMIN_PASSWORD + "\n")
    answers = nb.answer_file(fingerprint=nb.ca_sha256)

    nb.ok(
        "bpnbat",
        "-LOGIN",
        "-LoginType",
        "web",
        "-server",
        nb.server_address,
        "-user",
        "admin",
        "-password-file",
        str(password_file),
        "-info",
        str(answers),
    )

    assert nb.session_file.exists()


def test_login_prompts_for_the_rest(nb: CompatCli) -> None:
    answers = nb.answer_file(server=nb.server_address, user="admin")

    status, transcript = nb.in_terminal(
        "bpnbat",
        "-login",
        "-logintype",
        "WEB",
        "-info",
        str(answers),
        answers=[("Trust this CA? [y/N]:", "y\n"), ("Password for admin:", f"{ADMIN_PASSWORD}\n")],
    )

    assert status == 0, transcript
    assert nb.ca_sha256 in transcript
    assert ADMIN_PASSWORD not in transcript
    assert nb.session_file.exists()


def test_login_ca_refused(nb: CompatCli) -> None:
    status, transcript = nb.in_terminal(
        "bpnbat",
        "-login",
        "-logintype",
        "WEB",
        "-server",
        nb.server_address,
        "-user",
        "admin",
        answers=[("Trust this CA? [y/N]:", "n\n")],
    )

    assert status == EXIT_NOT_CONFIRMED, transcript
    assert "the CA was not confirmed; nothing was stored and no password was sent." in transcript
    assert "Password" not in transcript
    assert not nb.session_file.exists()


def test_login_without_terminal_needs_fingerprint(nb: CompatCli) -> None:
    answers = nb.answer_file(server=nb.server_address, password=ADMIN_PASSWORD)

    message = nb.fails(
        "bpnbat", "-login", "-logintype", "WEB", "-info", str(answers), status=EXIT_NOT_CONFIRMED
    )

    assert "is not confirmed and there is no terminal to ask" in message
    assert not nb.session_file.exists()


def test_login_wrong_fingerprint(nb: CompatCli) -> None:
    answers = nb.answer_file(
        server=nb.server_address, password=ADMIN_PASSWORD, fingerprint=":".join(["AB"] * 32)
    )

    message = nb.fails(
        "bpnbat", "-login", "-logintype", "WEB", "-info", str(answers), status=EXIT_FINGERPRINT
    )

    assert "fingerprint mismatch" in message
    assert not nb.session_file.exists()


def test_login_wrong_password(nb: CompatCli) -> None:
    answers = nb.answer_file(
        server=nb.server_address, password="not-the-password", fingerprint=nb.ca_sha256
    )

    message = nb.fails(
        "bpnbat", "-login", "-logintype", "WEB", "-info", str(answers), status=EXIT_NOT_LOGGED_IN
    )

    assert "not-the-password" not in message
    assert not nb.session_file.exists()


def test_login_needs_login_type(nb: CompatCli) -> None:
    result = nb.run("bpnbat", "-login", "-server", nb.server_address)

    assert result.returncode == EXIT_USAGE
    assert result.stderr.splitlines()[0] == "bpnbat: error: -login needs -logintype."
    assert result.stderr.splitlines()[1].startswith("usage: bpnbat -login -logintype WEB")


def test_logout(nb: CompatCli) -> None:
    nb.login()

    result = nb.ok("bpnbat", "-logout")

    assert result.stdout.startswith(f"Logged out admin from {nb.server.url}.")
    assert not nb.session_file.exists()
    nb.fails("nbcertcmd", "-listTokens", status=EXIT_NOT_LOGGED_IN)

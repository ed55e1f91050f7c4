"""The NetBackup command sequences that administrators follow, typed as they are documented.

Each command line below is the documented form with only the placeholders
filled in. The primary listens on a free port, so ``primary_name`` becomes
``127.0.0.1:PORT``. The host enrols without ``-host``, so hostca names it after
this machine, as the original commands do. Prompts are answered on a
pseudo-terminal.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest

from hostca.compat.exit_status import EXIT_CERTIFICATE_REVOKED

from conftest import ADMIN_PASSWORD, PrimaryServer

if TYPE_CHECKING:
    from conftest import CompatCli

pytestmark = pytest.mark.e2e

NEW_HOST_NAME = "renamed.compat.example.test"


def test_documented_sequences(nb: CompatCli, compat_server: PrimaryServer) -> None:
    primary_name = nb.server_address

    # bpnbat -login -logintype WEB: the server, user and password are asked for,
    # and the CA fingerprint is shown for a y/n confirmation.
    status, transcript = nb.in_terminal(
        "bpnbat",
        "-login",
        "-logintype",
        "WEB",
        answers=[
            ("Primary server (HOST[:PORT]):", f"{primary_name}\n"),
            ("User [admin]:", "\n"),
            ("Trust this CA? [y/N]:", "y\n"),
            ("Password for admin:", f"{ADMIN_PASSWORD}\n"),
        ],
    )
    assert status == 0, transcript
    assert nb.ca_sha256 in transcript
    assert "Logged in to" in transcript
    assert nb.session_file.exists()

    # An authorization token for several hosts, shown once.
    output = nb.ok(
        "nbcertcmd",
        "-createToken",
        "-name",
        "token_name",
        "-maxUses",
        "5",
        "-validFor",
        "2D4H",
        "-reason",
        "new media servers",
    ).stdout
    value = re.search(r"Token value:\s+(\S+)", output)
    assert value is not None, output
    listed = {item["name"]: item for item in nb.json("nbcertcmd", "-listTokens", "-json")}
    assert listed["token_name"]["max_uses"] == 5
    assert listed["token_name"]["kind"] == "authorization"
    valid_until = datetime.fromisoformat(listed["token_name"]["valid_until"])
    expected = datetime.now(UTC) + timedelta(days=2, hours=4)
    assert abs(valid_until - expected) < timedelta(minutes=5)

    # nbcertcmd -getCACertificate -server primary_name: fingerprints, then y/n.
    status, transcript = nb.in_terminal(
        "nbcertcmd",
        "-getCACertificate",
        "-server",
        primary_name,
        answers=[("Trust this CA? [y/N]:", "y\n")],
    )
    assert status == 0, transcript
    assert nb.ca_sha256 in transcript
    assert (nb.state_dir / "ca.pem").exists()

    # nbcertcmd -getCertificate -server primary_name -token: the value is asked for.
    status, transcript = nb.in_terminal(
        "nbcertcmd",
        "-getCertificate",
        "-server",
        primary_name,
        "-token",
        answers=[("Token:", f"{value.group(1)}\n")],
    )
    assert status == 0, transcript
    assert value.group(1) not in transcript  # The prompt does not echo.
    details = nb.json("nbcertcmd", "-listCertDetails", "-json")
    host_id = details["host_id"]
    host_name = details["names"][0]
    assert host_name not in ("primary.compat.example.test", "127.0.0.1")

    # Reissue tokens, naming the host by its primary name and by its host ID.
    nb.create_token("reissue_by_name", "-reissue", "-host", host_name)
    reissue_value = nb.create_token("reissue_by_id", "-reissue", "-hostId", host_id)
    listed = {item["name"]: item for item in nb.json("nbcertcmd", "-listTokens", "-json")}
    assert listed["reissue_by_name"]["host_id"] == host_id
    assert listed["reissue_by_id"]["host_id"] == host_id
    assert listed["reissue_by_id"]["kind"] == "reissue"

    # nbhostmgmt -add -hostid host_id -mappingname new_host_name
    nb.ok("nbhostmgmt", "-add", "-hostid", host_id, "-mappingname", NEW_HOST_NAME)
    shown = nb.json("nbhostmgmt", "-list", "-hostid", host_id, "-json")
    mappings = {item["name"]: item for item in shown["mappings"]}
    assert mappings[NEW_HOST_NAME]["state"] == "approved"

    # nbcertcmd -revokeCertificate -host host_name -reasonCode 1
    nb.ok("nbcertcmd", "-revokeCertificate", "-host", host_name, "-reasonCode", "1")
    revoked = compat_server.admin("GET", f"/api/v1/certificates?host={host_id}").json()
    assert [item["status"] for item in revoked] == ["revoked"]
    certificate = compat_server.admin(
        "GET", f"/api/v1/certificates/{revoked[0]['serial_number']}"
    ).json()
    assert certificate["revocation_reason"] == "key-compromise"

    # nbcertcmd -hostSelfCheck reports the revocation.
    result = nb.run("nbcertcmd", "-hostSelfCheck")
    assert result.returncode == EXIT_CERTIFICATE_REVOKED, result.stdout + result.stderr
    assert "is revoked" in result.stdout

    # nbcertcmd -getCertificate -force -file token_file: the reissue.
    token_file = nb.home / "token_file"
    token_file.write_text(reissue_value + "\n")
    nb.ok("nbcertcmd", "-getCertificate", "-force", "-file", str(token_file))
    reissued = nb.json("nbcertcmd", "-listCertDetails", "-json")
    assert reissued["host_id"] == host_id
    assert reissued["serial_number"] != details["serial_number"]
    assert reissued["names"][0] == host_name
    assert NEW_HOST_NAME in reissued["names"]

    # nbcertcmd -hostSelfCheck: usable again.
    result = nb.ok("nbcertcmd", "-hostSelfCheck")
    assert "is not revoked" in result.stdout

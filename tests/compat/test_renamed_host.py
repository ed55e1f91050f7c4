"""The renamed-host workflow, driven only through the NetBackup-compatible commands.

An administrator logs in with bpnbat, and a host trusts the CA and enrols as
``web-01``. Then the four steps of a rename: a reissue token for the host by
its primary name, the new name as an approved mapping, revocation, and the
reissue under the new name. The host keeps its host ID. Python's ssl module
checks independently that the primary rejects the revoked certificate and
accepts the new one.
"""

from __future__ import annotations

import ssl
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from hostca.compat.exit_status import EXIT_CERTIFICATE_REVOKED, EXIT_NAME_NOT_PRIMARY

from conftest import PrimaryServer

if TYPE_CHECKING:
    from conftest import CompatCli

pytestmark = pytest.mark.e2e

OLD_NAME = "web-01.compat.example.test"
ALIAS = "web-01-backup.compat.example.test"
NEW_NAME = "web-02.compat.example.test"


def call_self(server: PrimaryServer, details: dict[str, Any]) -> httpx.Response:
    """Call GET /api/v1/self with the host's certificate, over mutual TLS."""
    context = ssl.create_default_context(cafile=details["ca_file"])
    context.load_cert_chain(details["certificate_file"], details["key_file"])
    with httpx.Client(base_url=server.url, verify=context, timeout=30) as client:
        return client.get("/api/v1/self")


def test_renamed_host_keeps_host_id(nb: CompatCli, compat_server: PrimaryServer) -> None:
    nb.login()
    first = nb.enrol(OLD_NAME, nb.create_token("first-enrolment"))
    host_id = first["host_id"]
    assert first["names"] == [OLD_NAME]
    assert call_self(compat_server, first).status_code == 200

    # Step 1: a reissue token for the host by its primary name. An alias is rejected,
    # and the message names the primary name to use instead.
    nb.ok("nbhostmgmt", "-add", "-hostid", host_id, "-mappingname", ALIAS)
    message = nb.fails(
        "nbcertcmd",
        "-createToken",
        "-name",
        "by-alias",
        "-reissue",
        "-host",
        ALIAS,
        status=EXIT_NAME_NOT_PRIMARY,
    )
    assert ALIAS in message
    assert OLD_NAME in message
    token_file = nb.home / "reissue-token"
    token_file.write_text(
        nb.create_token("rename-web-01", "-reissue", "-host", OLD_NAME, "-reason", "renamed")
    )

    # Step 2: the new name becomes an approved mapping of the host ID.
    nb.ok("nbhostmgmt", "-add", "-hostid", host_id, "-mappingname", NEW_NAME)

    # Step 3: revocation; from now on the host cannot call the web service.
    nb.ok("nbcertcmd", "-revokeCertificate", "-host", OLD_NAME, "-reasonCode", "4")
    rejected = call_self(compat_server, first)
    assert rejected.status_code == 403
    assert rejected.json()["code"] == "certificate_revoked"
    check = nb.run("nbcertcmd", "-hostSelfCheck")
    assert check.returncode == EXIT_CERTIFICATE_REVOKED, check.stdout + check.stderr
    assert f"The certificate {first['serial_number']} of host {host_id} is revoked." in check.stdout

    # Step 4: the reissue token gives the host a certificate for its new name.
    nb.ok("nbcertcmd", "-getCertificate", "-force", "-file", str(token_file), "-host", NEW_NAME)
    second = nb.json("nbcertcmd", "-listCertDetails", "-json")
    assert second["host_id"] == host_id
    assert second["names"][0] == NEW_NAME
    assert OLD_NAME not in second["names"]
    assert second["serial_number"] != first["serial_number"]
    accepted = call_self(compat_server, second)
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["host_id"] == host_id
    assert accepted.json()["primary_name"] == NEW_NAME
    assert "is not revoked" in nb.ok("nbcertcmd", "-hostSelfCheck").stdout

    # The primary records the new primary name, and the reissue token is spent.
    shown = nb.json("nbhostmgmt", "-list", "-hostid", host_id, "-json")
    assert shown["primary_name"] == NEW_NAME
    tokens = {item["name"]: item for item in nb.json("nbcertcmd", "-listTokens", "-json")}
    assert tokens["rename-web-01"]["uses"] == 1
    assert tokens["rename-web-01"]["state"] == "used-up"

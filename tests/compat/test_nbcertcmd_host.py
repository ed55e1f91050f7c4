"""nbcertcmd's operations on this host's certificate, with the agent and a real primary."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

from hostca.compat.exit_status import (
    EXIT_FINGERPRINT,
    EXIT_NOT_CONFIRMED,
    EXIT_NOT_FOUND,
    EXIT_TOKEN_EXPIRED,
    EXIT_USAGE,
)

if TYPE_CHECKING:
    from conftest import CompatCli

pytestmark = pytest.mark.e2e

# The keys that docs/netbackup-commands.md promises for -listCertDetails -json.
CERT_DETAIL_KEYS = {
    "host_id",
    "names",
    "serial_number",
    "not_after",
    "certificate_file",
    "key_file",
    "ca_file",
    "server",
}
# The keys that it promises for -listCACertDetails -json, and for each certificate.
CA_DETAIL_KEYS = {"server", "certificates"}
CA_CERTIFICATE_KEYS = {"subject", "serial_number", "not_before", "not_after", "sha256", "sha1"}

WRONG_FINGERPRINT = ":".join(["AB"] * 32)


def test_get_ca_certificate_fingerprint_mismatch(nb: CompatCli) -> None:
    fingerprint_file = nb.home / "fingerprint"
    fingerprint_file.write_text(WRONG_FINGERPRINT + "\n")

    message = nb.fails(
        "nbcertcmd",
        "-getCACertificate",
        "-server",
        nb.server_address,
        "-file",
        str(fingerprint_file),
        status=EXIT_FINGERPRINT,
    )

    assert message.startswith(f"hostca: error: fingerprint mismatch: expected {WRONG_FINGERPRINT}")
    assert nb.ca_sha256 in message
    assert not (nb.state_dir / "ca.pem").exists()


def test_get_ca_certificate_openssl_fingerprint_line(nb: CompatCli) -> None:
    fingerprint_file = nb.home / "fingerprint"
    fingerprint_file.write_text(f"sha256 Fingerprint={nb.ca_sha256.replace(':', '').lower()}\n")

    nb.ok(
        "nbcertcmd",
        "-getCACertificate",
        "-server",
        nb.server_address,
        "-file",
        str(fingerprint_file),
    )

    assert (nb.state_dir / "ca.pem").exists()


def test_get_ca_certificate_refused(nb: CompatCli) -> None:
    status, transcript = nb.in_terminal(
        "nbcertcmd",
        "-getcacertificate",
        "-server",
        nb.server_address,
        answers=[("Trust this CA? [y/N]:", "n\n")],
    )

    assert status == EXIT_NOT_CONFIRMED, transcript
    assert nb.ca_sha256 in transcript
    assert "the CA was not confirmed; nothing was stored." in transcript
    assert not (nb.state_dir / "ca.pem").exists()


def test_get_ca_certificate_needs_server(nb: CompatCli) -> None:
    result = nb.run("nbcertcmd", "-getCACertificate")

    assert result.returncode == EXIT_USAGE
    assert result.stderr.splitlines()[0] == "nbcertcmd: error: -getCACertificate needs -server."


def test_get_certificate_expired_token(nb_admin: CompatCli) -> None:
    token = nb_admin.create_token("expires-soon", "-validFor", "1M")
    nb_admin.expire_token("expires-soon")
    nb_admin.trust_ca()

    message = nb_admin.fails(
        "nbcertcmd",
        "-getCertificate",
        "-server",
        nb_admin.server_address,
        "-envtoken",
        "HOST_TOKEN",
        "-host",
        "late.compat.example.test",
        env={"HOST_TOKEN": token},
        status=EXIT_TOKEN_EXPIRED,
    )

    assert message.startswith("hostca: error: the token expires-soon expired at ")
    assert token not in message
    assert not (nb_admin.state_dir / "cert.pem").exists()
    tokens = {item["name"]: item for item in nb_admin.json("nbcertcmd", "-listTokens", "-json")}
    assert tokens["expires-soon"]["uses"] == 0
    assert tokens["expires-soon"]["state"] == "expired"


def test_get_certificate_untrusted_server(nb: CompatCli) -> None:
    nb.trust_ca()

    message = nb.fails(
        "nbcertcmd", "-getCertificate", "-server", "127.0.0.2:1", "-token", status=EXIT_NOT_FOUND
    )

    assert "https://127.0.0.2:1: this agent does not trust that primary server" in message


def test_certificate_details_json(nb_admin: CompatCli) -> None:
    enrolled = nb_admin.enrol("details.compat.example.test", nb_admin.create_token("details"))

    compact = nb_admin.ok("nbcertcmd", "-listCertDetails", "-json_compact").stdout

    assert set(enrolled) >= CERT_DETAIL_KEYS
    assert enrolled["names"] == ["details.compat.example.test"]
    assert enrolled["server"] == nb_admin.server.url
    assert compact.count("\n") == 1
    assert json.loads(compact)["serial_number"] == enrolled["serial_number"]


def test_ca_details_on_host_without_login(nb: CompatCli) -> None:
    nb.trust_ca()

    for operation in ("-listCACertDetails", "-displayCACertDetail"):
        details = nb.json("nbcertcmd", operation, "-server", nb.server_address, "-json")
        assert set(details) >= CA_DETAIL_KEYS
        assert set(details["certificates"][0]) >= CA_CERTIFICATE_KEYS
        assert details["certificates"][0]["sha256"] == nb.ca_sha256


def test_ca_details_as_administrator(nb_admin: CompatCli) -> None:
    text = nb_admin.ok("nbcertcmd", "-listCACertDetails").stdout

    assert nb_admin.ca_sha256 in text


def test_renew_crl_and_clock_skew(nb_admin: CompatCli) -> None:
    enrolled = nb_admin.enrol("renewing.compat.example.test", nb_admin.create_token("renewing"))

    renewed = nb_admin.ok("nbcertcmd", "-renewCertificate")
    crl = nb_admin.ok("nbcertcmd", "-getCRL")
    skew = nb_admin.ok("nbcertcmd", "-checkClockSkew")

    assert renewed.stdout.startswith(f"Renewed host {enrolled['host_id']}.")
    details = nb_admin.json("nbcertcmd", "-listCertDetails", "-json")
    assert details["serial_number"] != enrolled["serial_number"]
    assert crl.stdout.startswith("Stored CRL number ")
    assert (nb_admin.state_dir / "crl.pem").exists()
    assert "clock" in skew.stdout


def test_offline_request_sign_and_deploy(nb_admin: CompatCli) -> None:
    nb_admin.trust_ca()
    request_file = nb_admin.home / "request.pem"
    certificate_file = nb_admin.home / "certificate.pem"
    token_file = nb_admin.home / "token"
    token_file.write_text(nb_admin.create_token("offline") + "\n")

    nb_admin.ok(
        "nbcertcmd",
        "-createCertRequest",
        "-requestFile",
        str(request_file),
        "-host",
        "offline.compat.example.test",
    )
    nb_admin.ok(
        "nbcertcmd",
        "-signCertificate",
        "-requestFile",
        str(request_file),
        "-certificateFile",
        str(certificate_file),
        "-file",
        str(token_file),
    )
    nb_admin.ok("nbcertcmd", "-deployCertificate", "-certificateFile", str(certificate_file))

    details = nb_admin.json("nbcertcmd", "-listCertDetails", "-json")
    assert details["names"] == ["offline.compat.example.test"]
    assert details["status"] == "valid"


def test_delete_certificate_asks_first(nb_admin: CompatCli) -> None:
    nb_admin.enrol("deleting.compat.example.test", nb_admin.create_token("deleting"))

    status, transcript = nb_admin.in_terminal(
        "nbcertcmd", "-deleteCertificate", answers=[("[y/N]:", "n\n")]
    )

    assert status == EXIT_NOT_CONFIRMED, transcript
    assert (nb_admin.state_dir / "cert.pem").exists()
    nb_admin.ok("nbcertcmd", "-deleteCertificate", "-force")
    assert not (nb_admin.state_dir / "cert.pem").exists()
    assert not (nb_admin.state_dir / "private" / "key.pem").exists()


def test_delete_all_certificates(nb_admin: CompatCli) -> None:
    nb_admin.enrol("all.compat.example.test", nb_admin.create_token("all"))

    nb_admin.ok("nbcertcmd", "-deleteAllCertificates", "-force")
    again = nb_admin.ok("nbcertcmd", "-deleteAllCertificates", "-force")

    assert not (nb_admin.state_dir / "cert.pem").exists()
    assert not (nb_admin.state_dir / "ca.pem").exists()
    assert again.stdout == "This host trusts no primary server; nothing to delete.\n"


def test_remove_ca_certificate(nb: CompatCli) -> None:
    nb.trust_ca()

    nb.ok("nbcertcmd", "-removeCACertificate", "-server", nb.server_address, "-force")

    assert not (nb.state_dir / "ca.pem").exists()

"""``hostca cert``, ``hostca ca show`` and ``hostca crl show``, against a real primary."""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING, Any

import pytest
from cryptography import x509

if TYPE_CHECKING:
    from cli.conftest import CaFingerprints, EnrollHost, HostcaCli

pytestmark = pytest.mark.e2e

CERT_KEYS = {"serial_number", "host_id", "status", "not_after", "names"}


def test_list_json_keys(admin: HostcaCli, enroll_host: EnrollHost) -> None:
    token = admin.json("token", "create", "--name", "list-keys")["value"]
    issued = enroll_host(token, "list-01.example.test")

    listed = admin.json("cert", "list", "--host", "list-01.example.test")

    assert len(listed) == 1
    entry = listed[0]
    assert set(entry) >= CERT_KEYS
    assert entry["serial_number"] == issued["serial_number"]
    assert re.fullmatch(r"[0-9A-F]+", entry["serial_number"])
    assert entry["host_id"] == issued["host_id"]
    assert entry["status"] == "valid"
    assert entry["names"] == ["list-01.example.test"]


def test_list_status_filter(admin: HostcaCli, enroll_host: EnrollHost) -> None:
    token = admin.json("token", "create", "--name", "status-filter")["value"]
    issued = enroll_host(token, "status-01.example.test")

    valid = admin.json("cert", "list", "--status", "valid")
    revoked = admin.json("cert", "list", "--status", "revoked")

    assert issued["serial_number"] in {item["serial_number"] for item in valid}
    assert issued["serial_number"] not in {item["serial_number"] for item in revoked}
    assert "unknown status" in admin.fails("cert", "list", "--status", "bogus")


def test_show_text_and_pem(admin: HostcaCli, enroll_host: EnrollHost) -> None:
    token = admin.json("token", "create", "--name", "show-pem")["value"]
    issued = enroll_host(token, "show-01.example.test")
    serial = issued["serial_number"]

    text = admin.ok("cert", "show", serial).stdout
    with_pem = admin.ok("cert", "show", serial.lower(), "--pem").stdout

    assert serial in text
    assert "show-01.example.test" in text
    assert "BEGIN CERTIFICATE" not in text
    assert "-----BEGIN CERTIFICATE-----" in with_pem
    pem = with_pem[with_pem.index("-----BEGIN CERTIFICATE-----") :]
    assert x509.load_pem_x509_certificate(pem.encode()).serial_number == int(serial, 16)
    shown = admin.json("cert", "show", serial)
    assert shown["serial_number"] == serial


def test_show_unknown_serial_fails(admin: HostcaCli) -> None:
    line = admin.fails("cert", "show", "0123456789")

    assert "no certificate has this serial number" in line


def test_revoke_by_host_reaches_crl(admin: HostcaCli, enroll_host: EnrollHost) -> None:
    token = admin.json("token", "create", "--name", "revoke-host")["value"]
    issued = enroll_host(token, "revoke-01.example.test")
    serial = issued["serial_number"]

    result = admin.ok(
        "cert",
        "revoke",
        "--host",
        "revoke-01.example.test",
        "--reason-code",
        "key-compromise",
        "--reason",
        "laptop stolen",
    )

    assert serial in result.stdout.splitlines()
    assert admin.json("cert", "show", serial)["status"] == "revoked"
    entry = _wait_for_crl_entry(admin, serial)
    assert entry["reason"] == "key-compromise"
    text = admin.ok("crl", "show").stdout
    assert serial in text
    assert "key-compromise" in text


def test_revoke_by_serial_and_host_id(admin: HostcaCli, enroll_host: EnrollHost) -> None:
    first = enroll_host(
        admin.json("token", "create", "--name", "rv-1")["value"], "rv-1.example.test"
    )
    second = enroll_host(
        admin.json("token", "create", "--name", "rv-2")["value"], "rv-2.example.test"
    )

    by_serial = admin.json("cert", "revoke", "--serial", first["serial_number"])
    by_id = admin.json(
        "cert", "revoke", "--host-id", second["host_id"], "--reason-code", "superseded"
    )

    assert by_serial["revoked"] == [first["serial_number"]]
    assert by_id["revoked"] == [second["serial_number"]]
    again = admin.fails("cert", "revoke", "--serial", first["serial_number"])
    assert "already revoked" in again


def test_revoke_rejections(admin: HostcaCli, enroll_host: EnrollHost) -> None:
    issued = enroll_host(
        admin.json("token", "create", "--name", "rv-bad")["value"],
        "rv-bad.example.test",
        aliases=["rv-bad-alias.example.test"],
    )
    admin.ok("host", "mapping", "add", "rv-bad.example.test", "rv-bad-alias.example.test")

    no_target = admin.fails("cert", "revoke")
    two_targets = admin.fails("cert", "revoke", "--serial", "01", "--host-id", issued["host_id"])
    bad_code = admin.fails(
        "cert", "revoke", "--serial", issued["serial_number"], "--reason-code", "hold"
    )
    alias = admin.fails("cert", "revoke", "--host", "rv-bad-alias.example.test")

    assert "exactly one of" in no_target
    assert "exactly one of" in two_targets
    assert "key-compromise" in bad_code
    assert "rv-bad.example.test" in alias
    assert admin.json("cert", "show", issued["serial_number"])["status"] == "valid"


def test_ca_show_fingerprints(admin: HostcaCli, ca_fingerprints: CaFingerprints) -> None:
    shown = admin.json("ca", "show")
    text = admin.ok("ca", "show").stdout
    pem = admin.ok("ca", "show", "--pem").stdout

    certificate = shown["certificates"][0]
    assert certificate["sha256"] == ca_fingerprints.sha256
    assert certificate["sha1"] == ca_fingerprints.sha1
    assert certificate["not_after"].endswith("Z")
    assert ca_fingerprints.sha256 in text
    assert ca_fingerprints.sha1 in text
    assert pem == admin.server.ca_file.read_text()


def test_ca_show_without_login(cli: HostcaCli, ca_fingerprints: CaFingerprints) -> None:
    shown = cli.json("ca", "show", "--server", cli.server.url, "--ca-file", str(cli.server.ca_file))

    assert shown["certificates"][0]["sha256"] == ca_fingerprints.sha256


def test_ca_show_needs_server(cli: HostcaCli) -> None:
    line = cli.fails("ca", "show")

    assert "--server" in line


def test_crl_show_without_login(cli: HostcaCli, ca_fingerprints: CaFingerprints) -> None:
    environment = {"HOSTCA_SERVER": cli.server.url, "HOSTCA_CA_FILE": str(cli.server.ca_file)}

    shown = cli.json("crl", "show", env=environment)

    assert isinstance(shown["crl_number"], int)
    assert shown["signature_valid"] is True
    assert shown["issuer_sha256"] == ca_fingerprints.sha256
    assert shown["this_update"].endswith("Z")
    assert shown["next_update"] > shown["this_update"]
    assert isinstance(shown["entries"], list)


def _wait_for_crl_entry(admin: HostcaCli, serial: str) -> dict[str, Any]:
    # The server publishes a new CRL within a second of a revocation.
    deadline = time.monotonic() + 10
    while True:
        entries = admin.json("crl", "show")["entries"]
        found = [entry for entry in entries if entry["serial_number"] == serial]
        if found:
            return found[0]
        assert time.monotonic() < deadline, f"{serial} did not reach the CRL within 10 s"
        time.sleep(0.3)

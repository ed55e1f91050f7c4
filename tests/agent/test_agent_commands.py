"""`hostca agent` commands against the fake primary from conftest.py, over real TLS."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from click.testing import CliRunner, Result
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from hostca.agent.certificates import format_serial_number
from hostca.agent.crl import verify_crl
from hostca.cli.main import cli
from hostca.core.errors import HostcaError
from hostca.core.fingerprints import fingerprint

if TYPE_CHECKING:
    from conftest import FakePrimary, TestCa

HOSTCA = str(Path(sys.executable).with_name("hostca"))
TOKEN = "ABCDEFGHIJKLMNOP"
STATUS_KEYS = {
    "host_id",
    "names",
    "serial_number",
    "not_after",
    "certificate_file",
    "key_file",
    "ca_file",
    "server",
}


def invoke(state_dir: Path, *args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(cli, ["agent", "--state-dir", str(state_dir), *args], input=input)


def error_code(result: Result) -> str:
    assert isinstance(result.exception, HostcaError), result.output
    return result.exception.code


def snapshot(state_dir: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(state_dir)): path.read_bytes()
        for path in sorted(state_dir.rglob("*"))
        if path.is_file()
    }


def trust(state_dir: Path, primary: FakePrimary) -> None:
    sha256 = fingerprint(primary.ca.certificate, "sha256")
    result = invoke(state_dir, "trust", "--server", primary.url, "--fingerprint", sha256)
    assert result.exit_code == 0, result.output


def enroll(state_dir: Path, primary: FakePrimary, *extra: str) -> dict[str, Any]:
    trust(state_dir, primary)
    result = invoke(
        state_dir,
        "enroll",
        "--token",
        "abcd-efgh ijkl-mnop",
        "--name",
        "web-01.example.test",
        "--alias",
        "10.0.0.5",
        "--json",
        *extra,
    )
    assert result.exit_code == 0, result.output
    answer: dict[str, Any] = json.loads(result.stdout)
    return answer


def load_pem_certificate(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


@pytest.mark.parametrize(
    ("serial_number", "expected"),
    [(0x1, "01"), (0xAB, "AB"), (0xABC, "0ABC"), (0x1F2E3D, "1F2E3D")],
)
def test_serial_number_even_hex_digits(serial_number: int, expected: str) -> None:
    assert format_serial_number(serial_number) == expected


def test_trust_with_matching_fingerprint(fake_primary: FakePrimary, tmp_path: Path) -> None:
    sha256 = fingerprint(fake_primary.ca.certificate, "sha256")
    lower_without_colons = sha256.replace(":", "").lower()

    result = invoke(
        tmp_path,
        "trust",
        "--server",
        fake_primary.url,
        "--fingerprint",
        lower_without_colons,
        "--json",
    )

    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    assert answer["certificates"][0]["sha256"] == sha256
    assert answer["certificates"][0]["sha1"] == fingerprint(fake_primary.ca.certificate, "sha1")
    assert (tmp_path / "ca.pem").read_bytes() == fake_primary.ca.pem
    assert json.loads((tmp_path / "agent.json").read_text())["server"] == fake_primary.url


def test_trust_fingerprint_mismatch_stores_nothing(
    fake_primary: FakePrimary, make_ca: type[TestCa], tmp_path: Path
) -> None:
    wrong = fingerprint(make_ca.create("Impostor").certificate, "sha256")

    result = invoke(tmp_path, "trust", "--server", fake_primary.url, "--fingerprint", wrong)

    assert error_code(result) == "fingerprint_mismatch"
    message = str(result.exception)
    assert f"expected {wrong}" in message
    assert fingerprint(fake_primary.ca.certificate, "sha256") in message
    assert not (tmp_path / "ca.pem").exists()


def test_trust_interactive_confirmation(fake_primary: FakePrimary, tmp_path: Path) -> None:
    result = invoke(tmp_path, "trust", "--server", fake_primary.url, input="y\n")

    assert result.exit_code == 0, result.output
    assert "subject              CN=Test CA" in result.stdout
    assert fingerprint(fake_primary.ca.certificate, "sha256") in result.stdout
    assert fingerprint(fake_primary.ca.certificate, "sha1") in result.stdout
    assert "forged" not in result.stdout
    assert (tmp_path / "ca.pem").read_bytes() == fake_primary.ca.pem


def test_trust_declined_stores_nothing(fake_primary: FakePrimary, tmp_path: Path) -> None:
    result = invoke(tmp_path, "trust", "--server", fake_primary.url, input="n\n")

    assert error_code(result) == "trust_not_confirmed"
    assert not (tmp_path / "ca.pem").exists()
    assert not (tmp_path / "agent.json").exists()


def test_trust_new_ca_warns_enrolled(
    fake_primary: FakePrimary, make_ca: type[TestCa], tmp_path: Path
) -> None:
    answer = enroll(tmp_path, fake_primary)
    fake_primary.ca = make_ca.create("Replacement CA")
    sha256 = fingerprint(fake_primary.ca.certificate, "sha256")

    result = invoke(tmp_path, "trust", "--server", fake_primary.url, "--fingerprint", sha256)

    assert result.exit_code == 0, result.output
    warning = result.stderr.strip()
    assert warning.startswith(f"hostca: warning: {tmp_path / 'cert.pem'}: certificate ")
    assert answer["serial_number"] in warning
    assert "no longer chains to the trusted CA" in warning
    assert "`hostca agent enroll --force --token`" in warning
    assert "Next, run `hostca agent enroll`" not in result.stdout
    assert "must enrol again" in result.stdout


def test_trust_new_ca_json_warning(
    fake_primary: FakePrimary, make_ca: type[TestCa], tmp_path: Path
) -> None:
    enroll(tmp_path, fake_primary)
    fake_primary.ca = make_ca.create("Replacement CA")
    sha256 = fingerprint(fake_primary.ca.certificate, "sha256")

    result = invoke(
        tmp_path, "trust", "--server", fake_primary.url, "--fingerprint", sha256, "--json"
    )

    assert result.exit_code == 0, result.output
    warnings = json.loads(result.stdout)["warnings"]
    assert len(warnings) == 1
    assert "no longer chains to the trusted CA" in warnings[0]


def test_trust_same_ca_when_enrolled(fake_primary: FakePrimary, tmp_path: Path) -> None:
    answer = enroll(tmp_path, fake_primary)
    sha256 = fingerprint(fake_primary.ca.certificate, "sha256")

    result = invoke(tmp_path, "trust", "--server", fake_primary.url, "--fingerprint", sha256)

    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    assert "Next, run" not in result.stdout
    assert "already has a valid certificate from this CA" in result.stdout
    assert answer["serial_number"] in result.stdout


def test_trust_before_enrol_names_next_step(fake_primary: FakePrimary, tmp_path: Path) -> None:
    sha256 = fingerprint(fake_primary.ca.certificate, "sha256")

    result = invoke(tmp_path, "trust", "--server", fake_primary.url, "--fingerprint", sha256)

    assert result.exit_code == 0, result.output
    assert "Next, run `hostca agent enroll` with a token" in result.stdout


def test_trust_rejects_http_url(tmp_path: Path) -> None:
    result = invoke(tmp_path, "trust", "--server", "http://127.0.0.1:1556")
    assert error_code(result) == "server_url_invalid"


def test_enroll_requires_trusted_ca(fake_primary: FakePrimary, tmp_path: Path) -> None:
    result = invoke(
        tmp_path,
        "enroll",
        "--server",
        fake_primary.url,
        "--token",
        TOKEN,
        "--name",
        "a.example.test",
    )
    assert error_code(result) == "server_unknown"
    assert f"Run `hostca agent trust --server {fake_primary.url}` first" in str(result.exception)
    assert fake_primary.requests == []


def test_enroll_without_any_trusted_server(tmp_path: Path) -> None:
    result = invoke(tmp_path, "enroll", "--token", TOKEN, "--name", "a.example.test")
    assert error_code(result) == "server_missing"
    assert "run `hostca agent trust --server URL` first" in str(result.exception)


def test_enroll_stores_key_and_certificate(fake_primary: FakePrimary, tmp_path: Path) -> None:
    answer = enroll(tmp_path, fake_primary)

    key_file = tmp_path / "private" / "key.pem"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "private").stat().st_mode) == 0o700
    assert key_file.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")

    certificate = load_pem_certificate(tmp_path / "cert.pem")
    key = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    assert certificate.public_key() == key.public_key()

    assert answer["host_id"] == fake_primary.host_id
    assert answer["names"] == ["web-01.example.test", "10.0.0.5"]
    assert answer["serial_number"] == format_serial_number(certificate.serial_number)
    assert answer["pending_names"] == []

    method, path, body = fake_primary.requests[-1]
    assert (method, path) == ("POST", "/api/v1/enroll")
    assert body["token"] == TOKEN
    csr = x509.load_pem_x509_csr(body["csr"].encode())
    assert csr.public_key() == key.public_key()

    config = json.loads((tmp_path / "agent.json").read_text())
    assert config == {
        "server": fake_primary.url,
        "host_id": fake_primary.host_id,
        "names": ["web-01.example.test", "10.0.0.5"],
        "key_type": "ec-p256",
    }


def test_enroll_output_never_shows_token(fake_primary: FakePrimary, tmp_path: Path) -> None:
    trust(tmp_path, fake_primary)
    result = invoke(
        tmp_path,
        "enroll",
        "--token",
        "--name",
        "web-01.example.test",
        input="abcd-efgh-ijkl-mnop\n",
    )

    assert result.exit_code == 0, result.output
    assert fake_primary.requests[-1][2]["token"] == TOKEN
    assert "abcd" not in result.output.lower()
    assert TOKEN not in result.output


def test_enroll_token_from_file_and_env(
    fake_primary: FakePrimary, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state_dir = tmp_path / "state"
    trust(state_dir, fake_primary)
    token_file = tmp_path / "token.txt"
    token_file.write_text(TOKEN.lower() + "\n")

    result = invoke(
        state_dir, "enroll", "--token-file", str(token_file), "--name", "a.example.test"
    )
    assert result.exit_code == 0, result.output
    assert fake_primary.requests[-1][2]["token"] == TOKEN

    monkeypatch.setenv("HOSTCA_TEST_TOKEN", "PONM-LKJI-HGFE-DCBA")
    result = invoke(
        state_dir,
        "enroll",
        "--force",
        "--token-env",
        "HOSTCA_TEST_TOKEN",
        "--name",
        "a.example.test",
    )
    assert result.exit_code == 0, result.output
    assert fake_primary.requests[-1][2]["token"] == "PONMLKJIHGFEDCBA"


def test_enroll_without_token_sends_none(fake_primary: FakePrimary, tmp_path: Path) -> None:
    trust(tmp_path, fake_primary)
    result = invoke(tmp_path, "enroll", "--name", "a.example.test")
    assert result.exit_code == 0, result.output
    assert "token" not in fake_primary.requests[-1][2]


def test_enroll_token_sources_exclusive(fake_primary: FakePrimary, tmp_path: Path) -> None:
    trust(tmp_path, fake_primary)
    result = invoke(
        tmp_path, "enroll", "--token", TOKEN, "--token-env", "X", "--name", "a.example.test"
    )
    assert result.exit_code == 2
    assert "--token and --token-env are mutually exclusive" in result.output


def test_enroll_missing_token_variable(fake_primary: FakePrimary, tmp_path: Path) -> None:
    trust(tmp_path, fake_primary)
    result = invoke(
        tmp_path, "enroll", "--token-env", "HOSTCA_TEST_UNSET", "--name", "a.example.test"
    )
    assert error_code(result) == "token_missing"
    assert "HOSTCA_TEST_UNSET" in str(result.exception)


def test_enroll_malformed_token_sends_nothing(fake_primary: FakePrimary, tmp_path: Path) -> None:
    trust(tmp_path, fake_primary)
    requests_before = len(fake_primary.requests)
    result = invoke(tmp_path, "enroll", "--token", "ABC", "--name", "a.example.test")
    assert error_code(result) == "token_invalid"
    assert len(fake_primary.requests) == requests_before


def test_enroll_twice_needs_force(fake_primary: FakePrimary, tmp_path: Path) -> None:
    enroll(tmp_path, fake_primary)
    result = invoke(tmp_path, "enroll", "--token", TOKEN, "--name", "web-01.example.test")
    assert error_code(result) == "already_enrolled"
    assert "pass --force" in str(result.exception)


def test_enroll_server_error_changes_nothing(fake_primary: FakePrimary, tmp_path: Path) -> None:
    enroll(tmp_path, fake_primary)
    before = snapshot(tmp_path)
    fake_primary.enroll_problem = {
        "title": "Token used up",
        "status": 403,
        "detail": "the token has no uses left; ask the administrator for a new token.",
        "code": "token_used_up",
    }

    result = invoke(
        tmp_path, "enroll", "--force", "--token", TOKEN, "--name", "web-01.example.test"
    )

    assert error_code(result) == "token_used_up"
    assert str(result.exception) == (
        "the token has no uses left; ask the administrator for a new token."
    )
    assert snapshot(tmp_path) == before


def test_enroll_wrong_certificate_changes_nothing(
    fake_primary: FakePrimary, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    enroll(tmp_path, fake_primary)
    before = snapshot(tmp_path)
    stranger = ec.generate_private_key(ec.SECP256R1())
    real_issue = fake_primary._issue
    monkeypatch.setattr(
        fake_primary, "_issue", lambda _key, names: real_issue(stranger.public_key(), names)
    )

    result = invoke(tmp_path, "enroll", "--force", "--name", "web-01.example.test")

    assert error_code(result) == "invalid_response"
    assert "does not certify this host's key" in str(result.exception)
    assert snapshot(tmp_path) == before


def test_enroll_with_other_key_type(fake_primary: FakePrimary, tmp_path: Path) -> None:
    enroll(tmp_path, fake_primary, "--key-type", "ed25519", "--force")
    key = serialization.load_pem_private_key(
        (tmp_path / "private" / "key.pem").read_bytes(), password=None
    )
    assert type(key).__name__.startswith("Ed25519")
    assert json.loads((tmp_path / "agent.json").read_text())["key_type"] == "ed25519"


def test_status_after_enroll(fake_primary: FakePrimary, tmp_path: Path) -> None:
    answer = enroll(tmp_path, fake_primary)

    result = invoke(tmp_path, "status", "--json")

    assert result.exit_code == 0, result.output
    status = json.loads(result.stdout)
    assert set(status) >= STATUS_KEYS
    assert status["status"] == "valid"
    assert status["host_id"] == fake_primary.host_id
    assert status["serial_number"] == answer["serial_number"]
    assert status["names"] == ["web-01.example.test", "10.0.0.5"]
    assert status["server"] == fake_primary.url
    assert status["key_file"] == str(tmp_path / "private" / "key.pem")
    assert status["certificate_file"] == str(tmp_path / "cert.pem")
    assert status["ca_file"] == str(tmp_path / "ca.pem")
    assert status["key_type"] == "EC P-256"
    assert status["not_after"].endswith("Z")
    assert status["not_before"] < status["renew_after"] < status["not_after"]


def test_status_not_enrolled(tmp_path: Path) -> None:
    result = invoke(tmp_path, "status", "--json")
    assert result.exit_code == 0, result.output
    status = json.loads(result.stdout)
    assert set(status) >= STATUS_KEYS
    assert status["status"] == "not_enrolled"
    assert status["serial_number"] is None


def test_status_revoked_by_local_crl(fake_primary: FakePrimary, tmp_path: Path) -> None:
    answer = enroll(tmp_path, fake_primary)
    fake_primary.revoked.add(int(answer["serial_number"], 16))
    assert invoke(tmp_path, "crl", "fetch").exit_code == 0
    requests_before = len(fake_primary.requests)

    result = invoke(tmp_path, "status", "--json")

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["status"] == "revoked"
    assert "status         revoked" in invoke(tmp_path, "status").stdout
    assert len(fake_primary.requests) == requests_before


def test_status_ignores_unverified_crl(
    fake_primary: FakePrimary, make_ca: type[TestCa], tmp_path: Path
) -> None:
    answer = enroll(tmp_path, fake_primary)
    impostor = make_ca.create("Test CA")
    forged = impostor.crl([int(answer["serial_number"], 16)], crl_number=9)
    (tmp_path / "crl.pem").write_bytes(forged.public_bytes(serialization.Encoding.PEM))

    result = invoke(tmp_path, "status", "--json")

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["status"] == "valid"


def test_status_does_not_import_httpx(tmp_path: Path) -> None:
    program = (
        "import sys\n"
        "from hostca.cli.main import cli, run\n"
        f"run(cli, ['agent', '--state-dir', {str(tmp_path)!r}, 'status', '--json'])\n"
        "print('httpx' in sys.modules, file=sys.stderr)\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, check=True
    )
    assert completed.stderr.strip() == "False"


def test_renew_keeps_key(fake_primary: FakePrimary, tmp_path: Path) -> None:
    first = enroll(tmp_path, fake_primary)
    key_before = (tmp_path / "private" / "key.pem").read_bytes()

    result = invoke(tmp_path, "renew", "--json")

    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    assert answer["serial_number"] != first["serial_number"]
    assert answer["host_id"] == first["host_id"]
    assert (tmp_path / "private" / "key.pem").read_bytes() == key_before
    assert fake_primary.requests[-1] == ("POST", "/api/v1/renew", {})


def test_renew_rekey_replaces_key(fake_primary: FakePrimary, tmp_path: Path) -> None:
    enroll(tmp_path, fake_primary)
    key_file = tmp_path / "private" / "key.pem"
    key_before = key_file.read_bytes()

    result = invoke(tmp_path, "renew", "--rekey")

    assert result.exit_code == 0, result.output
    assert key_file.read_bytes() != key_before
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    key = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
    assert load_pem_certificate(tmp_path / "cert.pem").public_key() == key.public_key()
    csr = x509.load_pem_x509_csr(fake_primary.requests[-1][2]["csr"].encode())
    names = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["web-01.example.test"]


def test_renew_without_certificate(tmp_path: Path) -> None:
    (tmp_path / "agent.json").write_text(json.dumps({"server": "https://127.0.0.1:1"}))
    result = invoke(tmp_path, "renew")
    assert error_code(result) == "not_enrolled"


def test_self_check_valid(fake_primary: FakePrimary, tmp_path: Path) -> None:
    enroll(tmp_path, fake_primary)

    result = invoke(tmp_path, "self-check", "--json")

    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["status"] == "valid"
    assert report["server"]["status"] == "valid"
    assert report["crl"]["checked"] is False


def test_self_check_revoked(fake_primary: FakePrimary, tmp_path: Path) -> None:
    enroll(tmp_path, fake_primary)
    serial = load_pem_certificate(tmp_path / "cert.pem").serial_number
    fake_primary.revoked.add(serial)

    result = invoke(tmp_path, "self-check")

    assert result.exit_code == 1
    assert (
        f"Certificate {format_serial_number(serial)} of host {fake_primary.host_id}: revoked"
        in result.stdout
    )
    assert f"certificate {serial:X} is revoked." in result.stdout


def test_crl_fetch_and_local_revocation(fake_primary: FakePrimary, tmp_path: Path) -> None:
    enroll(tmp_path, fake_primary)
    serial = load_pem_certificate(tmp_path / "cert.pem").serial_number
    fake_primary.revoked.add(serial)
    fake_primary.crl_number = 7

    result = invoke(tmp_path, "crl", "fetch", "--json")

    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    assert answer["crl_number"] == 7
    assert answer["revoked_count"] == 1
    assert (tmp_path / "crl.pem").read_bytes().startswith(b"-----BEGIN X509 CRL-----")

    report = json.loads(invoke(tmp_path, "self-check", "--json").stdout)
    assert report["status"] == "revoked"
    assert report["crl"]["revocation"]["serial_number"] == format_serial_number(serial)
    assert report["crl"]["revocation"]["reason"] == "key_compromise"


def test_crl_fetch_rejects_older_number(fake_primary: FakePrimary, tmp_path: Path) -> None:
    enroll(tmp_path, fake_primary)
    fake_primary.crl_number = 5
    assert invoke(tmp_path, "crl", "fetch").exit_code == 0
    stored = (tmp_path / "crl.pem").read_bytes()
    fake_primary.crl_number = 3

    result = invoke(tmp_path, "crl", "fetch")

    assert error_code(result) == "crl_outdated"
    assert "CRL number 3, older than the stored CRL number 5" in str(result.exception)
    assert (tmp_path / "crl.pem").read_bytes() == stored


def test_verify_crl_rejects_other_ca(test_ca: TestCa, make_ca: type[TestCa]) -> None:
    other = make_ca.create("Test CA")
    crl = other.crl([], crl_number=1)
    with pytest.raises(HostcaError) as caught:
        verify_crl(crl, [test_ca.certificate])
    assert caught.value.code == "crl_untrusted"


def test_forget_needs_confirmation(fake_primary: FakePrimary, tmp_path: Path) -> None:
    enroll(tmp_path, fake_primary)
    before = snapshot(tmp_path)

    result = invoke(tmp_path, "forget", input="n\n")

    assert error_code(result) == "forget_not_confirmed"
    assert snapshot(tmp_path) == before


def test_forget_without_answer_explains(fake_primary: FakePrimary, tmp_path: Path) -> None:
    enroll(tmp_path, fake_primary)
    before = snapshot(tmp_path)

    result = invoke(tmp_path, "forget", input="")

    assert error_code(result) == "forget_not_confirmed"
    assert "pass --force" in str(result.exception)
    assert snapshot(tmp_path) == before


def test_forget_no_answer_error_line(fake_primary: FakePrimary, tmp_path: Path) -> None:
    enroll(tmp_path, fake_primary)
    before = snapshot(tmp_path)

    completed = subprocess.run(
        [HOSTCA, "agent", "--state-dir", str(tmp_path), "forget"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )

    assert completed.returncode == 1, completed.stderr
    assert completed.stdout.startswith("Delete the key, certificate, CRL, trusted CA and settings")
    assert completed.stdout.endswith("[y/N]: \n")
    assert completed.stderr == (
        "hostca: error: no answer to the confirmation prompt, so nothing was deleted; "
        "pass --force to delete without confirmation.\n"
    )
    assert snapshot(tmp_path) == before


def test_forget_empty_state_dir(tmp_path: Path) -> None:
    result = invoke(tmp_path, "forget")

    assert result.exit_code == 0, result.output
    assert result.stdout == (
        f"Nothing to forget: {tmp_path} contains no key, certificate, CRL, trusted CA or "
        "settings.\n"
    )


def test_forget_force_deletes_all(fake_primary: FakePrimary, tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    enroll(state_dir, fake_primary)
    assert invoke(state_dir, "crl", "fetch").exit_code == 0

    result = invoke(state_dir, "forget", "--force")

    assert result.exit_code == 0, result.output
    assert "Deleted 5 files" in result.stdout
    assert not state_dir.exists()


def test_state_dir_from_environment(fake_primary: FakePrimary, tmp_path: Path) -> None:
    state_dir = tmp_path / "from-env"
    sha256 = fingerprint(fake_primary.ca.certificate, "sha256")
    result = CliRunner().invoke(
        cli,
        ["agent", "trust", "--server", fake_primary.url, "--fingerprint", sha256],
        env={**os.environ, "HOSTCA_STATE_DIR": str(state_dir)},
    )
    assert result.exit_code == 0, result.output
    assert (state_dir / "ca.pem").exists()


def test_trust_without_answer_explains(fake_primary: FakePrimary, tmp_path: Path) -> None:
    result = invoke(tmp_path, "trust", "--server", fake_primary.url, "--json", input="")

    assert error_code(result) == "confirmation_required"
    assert not (tmp_path / "ca.pem").exists()


def test_trust_json_error_own_line(fake_primary: FakePrimary, tmp_path: Path) -> None:
    command = [HOSTCA, "agent", "--state-dir", str(tmp_path), "trust", "--json"]
    completed = subprocess.run(
        [*command, "--server", fake_primary.url],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )

    assert completed.returncode == 1, completed.stderr
    lines = completed.stderr.splitlines()
    assert lines[-2].startswith("Trust this CA? [y/N]:")
    assert json.loads(lines[-1])["code"] == "confirmation_required"
    assert completed.stdout == ""
    assert not (tmp_path / "ca.pem").exists()


def test_empty_host_name_rejected() -> None:
    from hostca.cli.agent_commands import _host_name
    from hostca.core.errors import HostcaError

    with pytest.raises(HostcaError) as raised:
        _host_name(" ", ())
    assert raised.value.code == "name_invalid"
    assert _host_name("web-01.example.test", ()) == "web-01.example.test"


def test_default_host_name_is_enrolled_primary_name() -> None:
    from hostca.cli.agent_commands import _host_name

    enrolled = ("web-01.example.test", "alias.example.test")
    assert _host_name(None, enrolled) == "web-01.example.test"
    assert _host_name("web-02.example.test", enrolled) == "web-02.example.test"

"""ApiClient against real TLS on 127.0.0.1: URL forms, problem documents, transport failures."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from hostca.apiclient import ApiClient, ApiError, normalize_server_url
from hostca.core.errors import HostcaError, UnavailableError

if TYPE_CHECKING:
    from conftest import FakePrimary, RunningServer, TestCa


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("primary.example.test", "https://primary.example.test:1556"),
        ("Primary.Example.TEST:8443", "https://primary.example.test:8443"),
        ("https://primary.example.test", "https://primary.example.test:1556"),
        ("HTTPS://primary.example.test:1556/", "https://primary.example.test:1556"),
        ("  127.0.0.1:1556 ", "https://127.0.0.1:1556"),
        ("127.0.0.1", "https://127.0.0.1:1556"),
        ("::1", "https://[::1]:1556"),
        ("[::1]:9443", "https://[::1]:9443"),
        ("https://[2001:DB8::1]", "https://[2001:db8::1]:1556"),
    ],
)
def test_normalize_server_url_accepts(text: str, expected: str) -> None:
    assert normalize_server_url(text) == expected


@pytest.mark.parametrize(
    ("text", "message_part"),
    [
        ("http://primary.example.test", "http:// is not supported"),
        ("ftp://primary.example.test", "unsupported scheme"),
        ("", "empty"),
        ("   ", "empty"),
        ("https://primary.example.test/api", "only a host and a port"),
        ("https://user@primary.example.test", "only a host and a port"),
        ("https://primary.example.test?x=1", "only a host and a port"),
        ("primary.example.test:99999", "invalid port"),
        ("primary.example.test:http", "invalid port"),
        ("https://:1556", "host name is missing"),
    ],
)
def test_normalize_server_url_rejects(text: str, message_part: str) -> None:
    with pytest.raises(HostcaError) as caught:
        normalize_server_url(text)
    assert caught.value.code == "server_url_invalid"
    assert message_part in caught.value.message


def test_get_json_verified_with_ca_file(fake_primary: FakePrimary, tmp_path: Path) -> None:
    ca_file = tmp_path / "ca.pem"
    ca_file.write_bytes(fake_primary.ca.pem)
    with ApiClient(fake_primary.url, ca_file=ca_file) as client:
        answer = client.get_json("/api/v1/ca")
    assert answer["certificates"][0]["pem"] == fake_primary.ca.pem.decode()


def test_problem_document_becomes_api_error(problem_server: RunningServer, tmp_path: Path) -> None:
    ca_file = tmp_path / "ca.pem"
    ca_file.write_bytes(problem_server.ca.pem)
    with (
        ApiClient(problem_server.url, ca_file=ca_file) as client,
        pytest.raises(ApiError) as caught,
    ):
        client.get_json("/api/v1/enroll")
    error = caught.value
    assert error.code == "rate_limited"
    assert error.http_status == 429
    assert error.retry_after == 60
    assert error.title == "Too Many Requests"
    assert error.message == ("too many failed token redemptions from 127.0.0.1; retry after 60 s.")


def test_plain_error_page_becomes_http_code(problem_server: RunningServer, tmp_path: Path) -> None:
    ca_file = tmp_path / "ca.pem"
    ca_file.write_bytes(problem_server.ca.pem)
    with (
        ApiClient(problem_server.url, ca_file=ca_file) as client,
        pytest.raises(ApiError) as caught,
    ):
        client.get_json("/plain")
    assert caught.value.code == "http_502"
    assert caught.value.http_status == 502
    assert caught.value.message == "GET /plain failed with HTTP 502 Bad Gateway"


def test_non_json_body_is_invalid_response(problem_server: RunningServer, tmp_path: Path) -> None:
    ca_file = tmp_path / "ca.pem"
    ca_file.write_bytes(problem_server.ca.pem)
    with ApiClient(problem_server.url, ca_file=ca_file) as client:
        assert client.get_bytes("/text") == b"hello"
        with pytest.raises(UnavailableError) as caught:
            client.get_json("/text")
    assert caught.value.code == "invalid_response"
    assert "not JSON (text/plain)" in caught.value.message


def test_connection_refused_is_server_unreachable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # The port is free again now, so nothing listens there.
    with (
        ApiClient(f"127.0.0.1:{port}", verify=False) as client,
        pytest.raises(UnavailableError) as caught,
    ):
        client.get_json("/api/v1/time")
    assert caught.value.code == "server_unreachable"
    assert caught.value.message == (
        f"could not connect to https://127.0.0.1:{port}: connection refused; "
        "check --server and that the primary is running."
    )


def test_unknown_server_ca_is_server_untrusted(
    fake_primary: FakePrimary, make_ca: type[TestCa], tmp_path: Path
) -> None:
    ca_file = tmp_path / "other-ca.pem"
    ca_file.write_bytes(make_ca.create("Unrelated CA").pem)
    with (
        ApiClient(fake_primary.url, ca_file=ca_file) as client,
        pytest.raises(UnavailableError) as caught,
    ):
        client.get_json("/api/v1/ca")
    assert caught.value.code == "server_untrusted"
    assert f"`hostca agent trust --server {fake_primary.url}`" in caught.value.message
    assert "hostca login" in caught.value.message


def test_rejected_client_certificate_is_explained(
    strict_server: RunningServer, test_ca: TestCa, tmp_path: Path
) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    certificate = test_ca.issue(key.public_key(), ["web-01.example.test"])
    (tmp_path / "ca.pem").write_bytes(test_ca.pem)
    (tmp_path / "cert.pem").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )

    with (
        ApiClient(
            strict_server.url,
            ca_file=tmp_path / "ca.pem",
            client_cert=(tmp_path / "cert.pem", tmp_path / "key.pem"),
        ) as client,
        pytest.raises(UnavailableError) as caught,
    ):
        client.get_json("/api/v1/self")
    assert caught.value.code == "client_certificate_rejected"
    assert "probably rejected the client certificate" in caught.value.message
    assert "revoked, expired or issued by an unknown CA" in caught.value.message


def test_missing_ca_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(HostcaError) as caught:
        ApiClient("127.0.0.1", ca_file=tmp_path / "absent.pem")
    assert caught.value.code == "file_not_found"
    assert str(tmp_path / "absent.pem") in caught.value.message


def test_mismatched_client_key_is_named(test_ca: TestCa, tmp_path: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    other_key = ec.generate_private_key(ec.SECP256R1())
    certificate = test_ca.issue(key.public_key(), ["web-01.example.test"])
    (tmp_path / "cert.pem").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(
        other_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )

    with pytest.raises(HostcaError) as caught:
        ApiClient("127.0.0.1", client_cert=(tmp_path / "cert.pem", tmp_path / "key.pem"))
    assert caught.value.code == "file_invalid"
    assert "not a matching PEM certificate and unencrypted private key" in caught.value.message


def test_invalid_ca_file_is_named(tmp_path: Path) -> None:
    ca_file = tmp_path / "ca.pem"
    ca_file.write_text("not a certificate")
    with pytest.raises(HostcaError) as caught:
        ApiClient("127.0.0.1", ca_file=ca_file)
    assert caught.value.code == "file_invalid"
    assert str(ca_file) in caught.value.message

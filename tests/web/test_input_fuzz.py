"""Hypothesis on CSR, PEM and name input through the API: bad input ends in a 4xx problem document.

The ASGI app runs in process on a real initialized data directory. A small
wrapper puts a client certificate into the request's TLS scope, as the server's
TLS protocol does after a verified handshake, so renewal input is checked behind a
real host identity too. Truncated, oversized, mistyped and random input must be
rejected with 4xx and an RFC 9457 problem document. A generated name may be valid
and accepted, but it never causes a 5xx.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from asgi_helpers import PeerCertificateApp
from hostca.datadir import DataDir
from hostca.service.api_key_service import create_api_key
from hostca.service.context import Actor, ServiceContext
from hostca.service.crl_service import publish_crl
from hostca.service.server_setup import open_context
from hostca.service.token_service import CreateTokenRequest, create_token
from hostca.web.app import create_app

from conftest import init_server

PROBLEM_TYPE = "application/problem+json"
CSR_MAX_CHARACTERS = 64 * 1024
# HOSTCA_FUZZ_EXAMPLES sets a deeper run, such as 500, for a search by hand.
FUZZ = settings(
    max_examples=int(os.environ.get("HOSTCA_FUZZ_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

KEY = ec.generate_private_key(ec.SECP256R1())


def csr_pem(common_name: str | None, dns_names: list[str]) -> str:
    """Make a CSR signed by KEY, with any common name and DNS names."""
    attributes = [] if common_name is None else [_common_name(common_name)]
    builder = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(attributes))
    if dns_names:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(name) for name in dns_names]),
            critical=False,
        )
    return builder.sign(KEY, hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode()


def _common_name(value: str) -> x509.NameAttribute[str]:
    # Unchecked, so that a CSR may carry a common name longer than RFC 5280's 64.
    return x509.NameAttribute(NameOID.COMMON_NAME, value, _validate=False)


VALID_CSR = csr_pem("fuzz-base.example.test", ["fuzz-base.example.test"])
VALID_DER = x509.load_pem_x509_csr(VALID_CSR.encode()).public_bytes(serialization.Encoding.DER)


def pem_armor(der: bytes, label: str = "CERTIFICATE REQUEST") -> str:
    body = base64.encodebytes(der).decode("ascii")
    return f"-----BEGIN {label}-----\n{body}-----END {label}-----\n"


def still_a_csr(text: str) -> bool:
    """Return whether cryptography still loads ``text`` as a CSR with a valid signature."""
    try:
        csr = x509.load_pem_x509_csr(text.encode("utf-8", "surrogatepass"))
        return csr.is_signature_valid
    except (ValueError, UnicodeError, UnsupportedAlgorithm, x509.InvalidVersion):
        return False


class Api:
    def __init__(self, context: ServiceContext, admin_key: str, token: str) -> None:
        self.peer = PeerCertificateApp(create_app(context))
        self.client = TestClient(
            self.peer, base_url="https://testserver", raise_server_exceptions=False
        )
        self.admin_headers = {"authorization": f"Bearer {admin_key}"}
        self.token = token

    def post(self, path: str, body: Any, admin: bool = False) -> Any:
        headers = self.admin_headers if admin else {}
        return self.client.post(path, json=body, headers=headers)


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    tmp: Path = tmp_path_factory.mktemp("input-fuzz")
    init_server(tmp / "data", tmp)
    context = open_context(DataDir(tmp / "data"), ca_passphrase=None, database_url=None)
    publish_crl(context)
    admin = Actor(name="admin", role="security-admin")
    key = create_api_key(context, admin, "input-fuzz-admin", "security-admin", "1d")
    token = create_token(
        context, admin, CreateTokenRequest(name="input-fuzz", max_uses=99_999, valid_for="1d")
    )
    api = Api(context, key.value, token.value)

    # A host identity for renewal input: its certificate is the TLS peer of every request.
    enrolled = api.post(
        "/api/v1/enroll", {"csr": csr_pem(None, ["renewer.example.test"]), "token": token.value}
    )
    assert enrolled.status_code == 200, enrolled.text
    api.peer.peer_der = _der(enrolled.json()["certificate"])
    with api.client:
        yield api
    context.database.dispose()


def _der(certificate_pem: str) -> bytes:
    return x509.load_pem_x509_certificate(certificate_pem.encode()).public_bytes(
        serialization.Encoding.DER
    )


def assert_problem(response: Any, *, allow_success: bool = False) -> None:
    """Assert a 4xx problem document, or a success where the input may be valid."""
    label = f"{response.request.method} {response.request.url.path}: {response.status_code}"
    if allow_success and response.status_code in (200, 201):
        return
    assert 400 <= response.status_code < 500, f"{label} {response.text[:500]}"
    assert response.headers["content-type"] == PROBLEM_TYPE, f"{label} {response.text[:500]}"
    body = response.json()
    assert isinstance(body["code"], str), f"{label} {body}"
    assert body["status"] == response.status_code, f"{label} {body}"


def follow_renewal(api: Api, response: Any) -> None:
    """After a renewal that succeeded, present the new certificate, since the old one is superseded."""
    if response.status_code == 200:
        api.peer.peer_der = _der(response.json()["certificate"])


# CSR and PEM input: truncated, oversized, altered, random and mistyped

truncated_csrs = st.integers(0, len(VALID_CSR) - 1).map(lambda n: VALID_CSR[:n])
oversized_csrs = st.integers(CSR_MAX_CHARACTERS + 1, 4 * CSR_MAX_CHARACTERS).map(
    lambda n: VALID_CSR + "A" * (n - len(VALID_CSR))
)
altered_csrs = st.lists(
    st.tuples(st.integers(0, len(VALID_DER) - 1), st.integers(1, 255)), min_size=1, max_size=6
).map(lambda flips: pem_armor(_flip(VALID_DER, flips)))
random_pems = st.binary(max_size=3000).map(pem_armor)
other_pems = st.sampled_from(["CERTIFICATE", "PRIVATE KEY", "PUBLIC KEY", "X509 CRL"]).map(
    lambda label: pem_armor(VALID_DER, label)
)
random_texts = st.one_of(
    st.text(max_size=3000),
    st.binary(max_size=3000).map(lambda data: data.decode("latin-1")),
)
not_objects = st.one_of(
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.lists(st.text(max_size=10), max_size=3),
)
wrong_types = st.one_of(
    not_objects, st.dictionaries(st.text(max_size=10), st.text(max_size=10), max_size=3)
)
bad_csrs = st.one_of(
    truncated_csrs, oversized_csrs, altered_csrs, random_pems, other_pems, random_texts
)


def _flip(der: bytes, flips: list[tuple[int, int]]) -> bytes:
    data = bytearray(der)
    for position, mask in flips:
        data[position] ^= mask
    return bytes(data)


@FUZZ
@given(csr=bad_csrs)
def test_enrol_bad_csr(api: Api, csr: str) -> None:
    response = api.post("/api/v1/enroll", {"csr": csr, "token": api.token})

    assert_problem(response, allow_success=still_a_csr(csr))


@FUZZ
@given(csr=bad_csrs)
def test_enrol_bad_csr_without_token(api: Api, csr: str) -> None:
    response = api.post("/api/v1/enroll", {"csr": csr})

    assert_problem(response)


@FUZZ
@given(csr=bad_csrs)
def test_renew_bad_csr(api: Api, csr: str) -> None:
    response = api.post("/api/v1/renew", {"csr": csr})

    assert_problem(response, allow_success=still_a_csr(csr))
    follow_renewal(api, response)


@FUZZ
@given(value=wrong_types, path=st.sampled_from(["/api/v1/enroll", "/api/v1/renew"]))
def test_csr_of_wrong_type(api: Api, value: Any, path: str) -> None:
    response = api.post(path, {"csr": value, "token": api.token})

    assert_problem(response)


@FUZZ
@given(
    body=st.one_of(st.binary(max_size=2000), not_objects.map(lambda v: json.dumps(v).encode())),
    path=st.sampled_from(["/api/v1/enroll", "/api/v1/renew"]),
)
def test_body_not_an_object(api: Api, body: bytes, path: str) -> None:
    response = api.client.post(path, content=body, headers={"content-type": "application/json"})

    assert_problem(response)


@FUZZ
@given(data=st.binary(min_size=0, max_size=2000))
def test_random_peer_certificate(api: Api, data: bytes) -> None:
    """A peer certificate the app cannot parse, which a verified handshake never gives."""
    saved = api.peer.peer_der
    api.peer.peer_der = data or b"\x00"
    try:
        self_answer = api.client.get("/api/v1/self")
        renew_answer = api.post("/api/v1/renew", {})
    finally:
        api.peer.peer_der = saved

    assert_problem(self_answer)
    assert_problem(renew_answer)


def test_undecodable_peer_certificate(api: Api) -> None:
    """Regression: an undecodable peer certificate was a 500 internal_error."""
    saved = api.peer.peer_der
    api.peer.peer_der = b"not a certificate"
    try:
        response = api.client.get("/api/v1/self")
    finally:
        api.peer.peer_der = saved

    assert response.status_code == 401
    assert response.headers["content-type"] == PROBLEM_TYPE
    assert response.json()["code"] == "certificate_unknown"
    assert response.json()["detail"] == (
        "the client certificate cannot be decoded as X.509; connect with the certificate "
        "that 'hostca agent enroll' wrote."
    )


# Names: in CSRs, host and mapping bodies, token and revocation bodies, and paths

any_names = st.one_of(
    st.text(max_size=300),
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-.*_ ", max_size=300),
    st.from_regex(r"[a-z0-9-]{1,70}(\.[a-z0-9-]{1,70}){0,5}\.?", fullmatch=True),
    st.ip_addresses().map(str),
)
ascii_names = st.text(alphabet=st.characters(max_codepoint=127), min_size=0, max_size=300)


@FUZZ
@given(names=st.lists(ascii_names, min_size=1, max_size=4))
def test_csr_dns_names(api: Api, names: list[str]) -> None:
    response = api.post("/api/v1/enroll", {"csr": csr_pem(None, names), "token": api.token})

    assert_problem(response, allow_success=True)


@pytest.mark.filterwarnings("ignore:Attribute's length must be:UserWarning")
@FUZZ
@given(common_name=st.text(min_size=1, max_size=100))
def test_csr_common_name(api: Api, common_name: str) -> None:
    response = api.post("/api/v1/enroll", {"csr": csr_pem(common_name, []), "token": api.token})

    assert_problem(response, allow_success=True)


@FUZZ
@given(name=any_names)
def test_host_add_name(api: Api, name: str) -> None:
    response = api.post("/api/v1/hosts", {"name": name}, admin=True)

    assert_problem(response, allow_success=True)


@FUZZ
@given(name=any_names)
def test_mapping_add_name(api: Api, name: str) -> None:
    response = api.post(
        "/api/v1/hosts/renewer.example.test/mappings", {"name": name, "shared": True}, admin=True
    )

    assert_problem(response, allow_success=True)


@FUZZ
@given(name=any_names)
def test_name_in_path(api: Api, name: str) -> None:
    path = quote(name, safe="")

    host = api.client.get(f"/api/v1/hosts/{path}", headers=api.admin_headers)
    token = api.client.get(f"/api/v1/tokens/{path}", headers=api.admin_headers)
    certificate = api.client.get(f"/api/v1/certificates/{path}", headers=api.admin_headers)

    assert_problem(host, allow_success=True)
    assert_problem(token, allow_success=True)
    assert_problem(certificate, allow_success=True)


@FUZZ
@given(host=any_names, token_name=st.text(max_size=80))
def test_reissue_token_host(api: Api, host: str, token_name: str) -> None:
    response = api.post(
        "/api/v1/tokens", {"name": token_name, "kind": "reissue", "host": host}, admin=True
    )

    assert_problem(response, allow_success=True)


@FUZZ
@given(host=any_names, reason_code=st.one_of(st.text(max_size=30), st.integers()))
def test_revoke_host_name(api: Api, host: str, reason_code: str | int) -> None:
    # The renewer's own name is kept out, so that its identity stays valid for the tests above.
    if host.strip(".").lower() == "renewer.example.test":
        return
    response = api.post(
        "/api/v1/certificates/revoke", {"host": host, "reason_code": reason_code}, admin=True
    )

    assert_problem(response, allow_success=True)


# Each login verifies an argon2id hash, the real one or a dummy, so fewer examples.
@settings(FUZZ, max_examples=15)
@given(user=st.text(max_size=80), password=st.text(max_size=80))
def test_login_names(api: Api, user: str, password: str) -> None:
    response = api.post("/api/v1/login", {"user": user, "password": password})

    assert_problem(response)


@pytest.mark.parametrize(
    ("path", "body", "admin"),
    [
        ("/api/v1/login", {"user": "\x00", "password": "x"}, False),
        ("/api/v1/tokens", {"name": "\x00", "kind": "reissue", "host": "\x00"}, True),
        ("/api/v1/tokens", {"name": "nul\x00name"}, True),
    ],
)
def test_nul_character_is_client_error(
    api: Api, path: str, body: dict[str, Any], admin: bool
) -> None:
    # PostgreSQL text cannot hold NUL; SQLite can, so the two answer with different codes.
    response = api.post(path, body, admin=admin)

    assert 400 <= response.status_code < 500, response.text
    assert_problem(response)

"""The server's TLS configuration: versions, cipher suites and renegotiation.

The handshakes run against a real server with Python's ssl module. The server key
is EC P-256, so of the TLS 1.2 suites only the ECDSA ones can be negotiated.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest

from hostca.datadir import DataDir
from hostca.service.server_setup import open_context
from hostca.web.server import ServerSpec, build_config

from conftest import PrimaryServer

pytestmark = pytest.mark.e2e

TLS13_SUITES = ["TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256", "TLS_AES_128_GCM_SHA256"]
TLS12_SUITES = [
    "ECDHE-ECDSA-AES256-GCM-SHA384",
    "ECDHE-RSA-AES256-GCM-SHA384",
    "ECDHE-ECDSA-AES128-GCM-SHA256",
    "ECDHE-RSA-AES128-GCM-SHA256",
    "ECDHE-ECDSA-CHACHA20-POLY1305",
    "ECDHE-RSA-CHACHA20-POLY1305",
]
NEGOTIABLE_TLS12 = [suite for suite in TLS12_SUITES if "-ECDSA-" in suite]
REJECTED_TLS12 = [
    "ECDHE-ECDSA-AES128-SHA256",
    "ECDHE-ECDSA-AES256-SHA384",
    "ECDHE-ECDSA-AES128-SHA",
    "AES128-GCM-SHA256",
]


@pytest.fixture(scope="module")
def server_context(primary_server: PrimaryServer) -> Iterator[ssl.SSLContext]:
    """The SSL context that 'hostca server run' builds for this data directory."""
    layout = DataDir(primary_server.data_dir)
    context = open_context(layout, ca_passphrase=None, database_url=None)
    try:
        spec = ServerSpec(data_dir=primary_server.data_dir, listen="127.0.0.1:1556")
        config = build_config(spec, context, layout)
        config.load()
        assert config.ssl is not None
        yield config.ssl
    finally:
        context.database.dispose()


def handshake(server: PrimaryServer, client: ssl.SSLContext) -> tuple[str, str]:
    """Connect and return the negotiated (version, cipher suite); raise ssl.SSLError if refused."""
    with (
        socket.create_connection(("127.0.0.1", server.port), timeout=30) as raw,
        client.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        version, cipher = tls.version(), tls.cipher()
    assert version is not None
    assert cipher is not None
    return version, cipher[0]


def client_context(ca_file: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(ca_file))


def test_configured_suites(server_context: ssl.SSLContext) -> None:
    names = [cipher["name"] for cipher in server_context.get_ciphers()]

    assert names == TLS13_SUITES + TLS12_SUITES


def test_minimum_version_and_no_renegotiation(server_context: ssl.SSLContext) -> None:
    assert server_context.minimum_version == ssl.TLSVersion.TLSv1_2
    assert server_context.options & ssl.OP_NO_RENEGOTIATION
    assert server_context.verify_mode == ssl.CERT_OPTIONAL


def test_tls13_handshake(primary_server: PrimaryServer) -> None:
    client = client_context(primary_server.ca_file)
    client.minimum_version = ssl.TLSVersion.TLSv1_3

    version, suite = handshake(primary_server, client)

    assert version == "TLSv1.3"
    assert suite in TLS13_SUITES


@pytest.mark.parametrize("suite", NEGOTIABLE_TLS12)
def test_tls12_aead_suite_accepted(primary_server: PrimaryServer, suite: str) -> None:
    client = client_context(primary_server.ca_file)
    client.maximum_version = ssl.TLSVersion.TLSv1_2
    client.set_ciphers(suite)

    assert handshake(primary_server, client) == ("TLSv1.2", suite)


@pytest.mark.parametrize("suite", REJECTED_TLS12)
def test_tls12_other_suite_rejected(primary_server: PrimaryServer, suite: str) -> None:
    client = client_context(primary_server.ca_file)
    client.maximum_version = ssl.TLSVersion.TLSv1_2
    client.set_ciphers(f"{suite}:@SECLEVEL=0")

    with pytest.raises(ssl.SSLError) as raised:
        handshake(primary_server, client)

    # uvloop's TLS transport closes the connection without sending the alert.
    assert raised.value.reason in {"SSLV3_ALERT_HANDSHAKE_FAILURE", "UNEXPECTED_EOF_WHILE_READING"}


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1:DeprecationWarning")
@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1], ids=str)
def test_old_protocol_rejected(primary_server: PrimaryServer, version: ssl.TLSVersion) -> None:
    client = client_context(primary_server.ca_file)
    client.set_ciphers("DEFAULT:@SECLEVEL=0")
    client.minimum_version = version
    client.maximum_version = version

    with pytest.raises(ssl.SSLError) as raised:
        handshake(primary_server, client)

    assert raised.value.reason in {"TLSV1_ALERT_PROTOCOL_VERSION", "UNEXPECTED_EOF_WHILE_READING"}

"""Initialize a primary server: CA, secrets, database, its own host identity and first administrator."""

from __future__ import annotations

import secrets
import shutil
import socket
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from cryptography.hazmat.primitives.serialization import Encoding
from sqlalchemy import Connection

from hostca.ca.keystore import (
    CertificateAuthority,
    create_ca,
    create_ca_for_key,
    import_ca,
    load_ca,
    load_ca_for_key,
    write_certificate,
    write_private_key,
)
from hostca.ca.pkcs11_key import Pkcs11Login, open_ca_key, open_or_generate_ca_key
from hostca.ca.pkcs11_uri import parse_pkcs11_uri
from hostca.core.errors import ConflictError, InvalidRequestError
from hostca.core.fingerprints import fingerprint
from hostca.core.keys import check_host_public_key, describe_key, generate_private_key
from hostca.core.names import is_ip_address, normalize_name, normalize_names
from hostca.datadir import DataDir, ServerConfig, write_private_file
from hostca.service.audit_log import append_event
from hostca.service.context import Actor, ServiceContext, utc_now
from hostca.service.domain_settings import load_domain_settings
from hostca.service.issuance import issue_certificate
from hostca.service.resolver import NameResolver
from hostca.service.user_service import create_user
from hostca.settings import DEFAULT_PORT
from hostca.store import host_records
from hostca.store.database import Database, PoolLimits, sqlite_url

__all__ = ["InitRequest", "InitResult", "initialize_server", "open_context"]


@dataclass(frozen=True)
class InitRequest:
    data_dir: Path
    domain: str | None = None
    name: str | None = None
    alt_names: tuple[str, ...] = ()
    key_type: str = "ec-p256"
    admin_user: str = "admin"
    admin_password: str | None = None
    ca_passphrase: bytes | None = None
    import_certificate_pem: bytes | None = None
    import_key_pem: bytes | None = None
    import_key_passphrase: bytes | None = None
    database_url: str | None = None
    # A CA key in a hardware security module, in place of ca/ca.key.pem.
    ca_key_uri: str | None = None
    pkcs11_login: Pkcs11Login | None = None


@dataclass(frozen=True)
class InitResult:
    config: ServerConfig
    ca_fingerprints: dict[str, str]
    admin_user: str
    generated_password_file: Path | None = None
    notes: list[str] = field(default_factory=list)


def _fqdn() -> str:
    """Return this machine's FQDN, or its host name where the resolver names it localhost."""
    fqdn = socket.getfqdn()
    if not fqdn or fqdn.startswith("localhost"):
        return socket.gethostname() or "localhost"
    return fqdn


def database_url_for(data_dir: DataDir, database_url: str | None) -> str:
    """Return ``database_url``, else the URL recorded by 'hostca server init', else SQLite."""
    if database_url:
        return database_url
    if data_dir.is_initialized():
        recorded = data_dir.read_config().database_url
        if recorded:
            return recorded
    return sqlite_url(data_dir.database)


def database_for(
    data_dir: DataDir, database_url: str | None, pool: PoolLimits | None = None
) -> Database:
    return Database(database_url_for(data_dir, database_url), pool)


def _check_database_empty(database: Database) -> None:
    if not database.is_empty():
        raise ConflictError(
            f"{database.url_for_display}: already contains a hostca domain; to add a replica, "
            "restore a backup of an existing server into a new data directory instead "
            "(docs/replicas.md).",
            code="database_not_empty",
        )


# Host search walks name ranges in byte order ("web-0" to "web-1"), and its pages
# are merged in Python's string order. Both hold only under the C collation.
_BYTEWISE_COLLATIONS = frozenset({"C", "POSIX", "C.UTF-8", "C.utf8"})


def check_database_collation(database: Database) -> None:
    """Reject a PostgreSQL database whose collation does not compare text byte by byte."""
    collation = database.collation()
    if collation is not None and collation not in _BYTEWISE_COLLATIONS:
        raise InvalidRequestError(
            f"{database.url_for_display}: the database sorts text by the collation {collation}, "
            "but hostca searches and pages names in byte order; create the database with "
            "'createdb --locale=C --template=template0 NAME' (docs/replicas.md).",
            code="database_collation_invalid",
            details={"collation": collation},
        )


def initialize_server(request: InitRequest) -> InitResult:
    """Create everything a primary server needs in an empty data directory.

    When anything fails, the files created so far are removed again, so that a
    second attempt starts from the same empty directory.
    """
    data_dir = DataDir(request.data_dir)
    was_empty = data_dir.is_empty()
    try:
        return _initialize(request, data_dir)
    except BaseException:
        if was_empty and request.data_dir.exists():
            for child in request.data_dir.iterdir():
                shutil.rmtree(child) if child.is_dir() else child.unlink()
        raise


def _initialize(request: InitRequest, data_dir: DataDir) -> InitResult:
    if data_dir.is_initialized():
        raise ConflictError(
            f"{request.data_dir}: already contains an initialized primary server; use another "
            "--data-dir or start it with 'hostca server run'.",
            code="already_initialized",
        )
    _check_ca_key_options(request)
    primary_name = normalize_name(request.name or _fqdn())
    if is_ip_address(primary_name):
        raise InvalidRequestError(
            f"{primary_name}: the primary name must be a DNS name, because it is the first DNS name of the "
            "server's certificate; give IP addresses with --alt-name.",
            code="name_invalid",
        )
    alt_names = [n for n in normalize_names(request.alt_names) if n != primary_name]
    domain = request.domain or (
        primary_name.split(".", 1)[1] if "." in primary_name else primary_name
    )
    now = utc_now()

    request.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    request.data_dir.chmod(0o700)
    notes: list[str] = []
    database = database_for(data_dir, request.database_url)
    _check_database_empty(database)
    check_database_collation(database)

    # The CA first: without it nothing else can be signed.
    if request.ca_key_uri is not None and request.pkcs11_login is not None:
        ca = _create_ca_in_token(
            request.ca_key_uri, request.pkcs11_login, request.key_type, data_dir, domain, now, notes
        )
    elif request.import_certificate_pem is not None and request.import_key_pem is not None:
        ca = import_ca(
            data_dir.ca_dir,
            request.import_certificate_pem,
            request.import_key_pem,
            request.import_key_passphrase,
            request.ca_passphrase,
        )
    else:
        ca = create_ca(
            data_dir.ca_dir,
            key_type=request.key_type,
            common_name=f"hostca {domain} Root CA",
            organization=domain,
            passphrase=request.ca_passphrase,
            now=now,
        )
    write_private_file(data_dir.token_hmac_key, secrets.token_bytes(32).hex().encode())

    database.upgrade()
    if data_dir.database.exists():
        data_dir.database.chmod(0o600)
    public_base_url = f"https://{_url_host(primary_name)}:{DEFAULT_PORT}"
    context = ServiceContext(
        database=database,
        ca=ca,
        token_hmac_key=data_dir.read_token_hmac_key(),
        public_base_url=public_base_url,
    )

    password = request.admin_password or secrets.token_urlsafe(18)
    actor = Actor(name="hostca-init", source_ip=None)
    with database.transaction() as connection:
        append_event(
            connection,
            context,
            category="SEC_CONFIG",
            action="ca_create",
            actor=actor,
            target=fingerprint(ca.certificate, "sha256"),
            details={
                "key_type": request.key_type,
                "key": describe_key(ca.certificate.public_key()),
                "imported": request.import_certificate_pem is not None,
                "key_storage": "pkcs11" if request.ca_key_uri else "file",
            },
        )
        host_id = _register_primary_host(connection, context, primary_name, alt_names, data_dir)
        create_user(connection, context, actor, request.admin_user, "security-admin", password)
    database.dispose()

    generated = None
    if request.admin_password is None:
        write_private_file(data_dir.initial_password, (password + "\n").encode())
        generated = data_dir.initial_password
    config = ServerConfig(
        domain=domain,
        primary_name=primary_name,
        alt_names=alt_names,
        primary_host_id=host_id,
        public_base_url=public_base_url,
        ca_key_encrypted=request.ca_passphrase is not None,
        ca_key_uri=request.ca_key_uri,
        database_url=request.database_url,
    )
    data_dir.write_config(config)
    return InitResult(
        config=config,
        ca_fingerprints={a: fingerprint(ca.certificate, a) for a in ("sha256", "sha1")},
        admin_user=request.admin_user,
        generated_password_file=generated,
        notes=notes,
    )


def _check_ca_key_options(request: InitRequest) -> None:
    if request.ca_key_uri is None:
        return
    parse_pkcs11_uri(request.ca_key_uri)
    if request.import_certificate_pem is not None or request.import_key_pem is not None:
        raise InvalidRequestError(
            "--ca-key-uri and --import-ca-cert/--import-ca-key exclude each other: the first "
            "keeps a new CA's key in an HSM, the others import a CA key file; give one of them.",
            code="invalid_request",
        )
    if request.ca_passphrase is not None:
        raise InvalidRequestError(
            "--ca-passphrase-file encrypts a CA key file, but with --ca-key-uri the key stays "
            "in the token, protected by its PIN; leave the passphrase out.",
            code="invalid_request",
        )
    if request.pkcs11_login is None:
        raise InvalidRequestError(
            f"{request.ca_key_uri}: the token's user PIN is missing; give it with --ca-pin-file "
            "or HOSTCA_CA_PIN_FILE.",
            code="ca_pin_required",
        )


def _create_ca_in_token(
    uri_text: str,
    login: Pkcs11Login,
    key_type: str,
    data_dir: DataDir,
    domain: str,
    now: datetime,
    notes: list[str],
) -> CertificateAuthority:
    """Create the CA certificate for the key in the token, generating the key when it is missing."""
    uri = parse_pkcs11_uri(uri_text)
    opened = open_or_generate_ca_key(uri, login, key_type)
    ca = create_ca_for_key(
        data_dir.ca_dir,
        opened.private_key,
        common_name=f"hostca {domain} Root CA",
        organization=domain,
        now=now,
    )

    key = describe_key(opened.private_key.public_key())
    if opened.generated:
        notes.append(f"generated a non-extractable {key} CA key in {uri.describe()}")
    else:
        notes.append(f"used the existing {key} CA key in {uri.describe()}")
    if opened.extractable:
        notes.append(
            "the token allows exporting this key (CKA_EXTRACTABLE is true); to keep the CA key "
            "in the HSM for good, generate a non-extractable key instead"
        )
    return ca


def _url_host(name: str) -> str:
    return f"[{name}]" if ":" in name else name


def _register_primary_host(
    connection: Connection,
    context: ServiceContext,
    primary_name: str,
    alt_names: list[str],
    data_dir: DataDir,
) -> str:
    """Make the primary a host of its own domain, with a TLS certificate for its names.

    Returns the primary's host ID.
    """
    now = context.clock()
    host_id = host_records.create_host(connection, primary_name, now, is_primary_server=True)
    for name in alt_names:
        host_records.insert_name(
            connection,
            host_id=host_id,
            name=name,
            is_primary=False,
            state="approved",
            origin="admin",
            shared=False,
            created_at=now,
        )
    issue_server_certificate(connection, context, host_id, data_dir)
    return host_id


def issue_server_certificate(
    connection: Connection, context: ServiceContext, host_id: str, data_dir: DataDir
) -> None:
    key = generate_private_key("ec-p256")
    issued = issue_certificate(
        connection,
        context,
        host_id=host_id,
        public_key=check_host_public_key(key.public_key()),
        lifetime=load_domain_settings(connection).certificate_lifetime,
        now=context.clock(),
    )
    write_private_key(data_dir.tls_key, key, None)
    data_dir.tls_certificate.write_text(issued.certificate_pem + issued.ca_certificate_pem)
    data_dir.tls_certificate.chmod(0o644)
    append_event(
        connection,
        context,
        category="CERT",
        action="enroll",
        actor=Actor(name="hostca-server"),
        target=issued.serial_number,
        host_id=host_id,
        details={"names": list(issued.names), "primary_server": True},
    )


def open_context(
    data_dir: DataDir,
    *,
    ca_passphrase: bytes | None,
    database_url: str | None,
    hosts_file: Path | None = None,
    public_port: int | None = None,
    pkcs11_login: Pkcs11Login | None = None,
    public_base_url: str | None = None,
    pool: PoolLimits | None = None,
) -> ServiceContext:
    """Load an initialized data directory into a service context.

    The CRL distribution point and CA issuers URLs of the certificates it issues
    start with ``public_base_url``, such as a load balancer's. Without it they name
    the primary name and ``public_port``, the port this server listens on.
    ``pkcs11_login`` reaches the token when the CA key lives in an HSM.
    """
    config = data_dir.read_config()
    ca = _load_ca(data_dir, config, ca_passphrase, pkcs11_login)
    database = database_for(data_dir, database_url, pool)
    try:
        database.check_schema(f"hostca server migrate --data-dir {data_dir.root}")
    except BaseException:
        database.dispose()
        raise
    if public_base_url is None:
        public_base_url = (
            config.public_base_url
            if public_port is None
            else f"https://{_url_host(config.primary_name)}:{public_port}"
        )
    return ServiceContext(
        database=database,
        ca=ca,
        token_hmac_key=data_dir.read_token_hmac_key(),
        public_base_url=public_base_url,
        resolver=NameResolver(hosts_file),
    )


def _load_ca(
    data_dir: DataDir,
    config: ServerConfig,
    ca_passphrase: bytes | None,
    pkcs11_login: Pkcs11Login | None,
) -> CertificateAuthority:
    if config.ca_key_uri is None:
        return load_ca(data_dir.ca_dir, ca_passphrase)
    if pkcs11_login is None:
        raise InvalidRequestError(
            f"the CA key is in an HSM ({config.ca_key_uri}); give the token's user PIN with "
            "--ca-pin-file or HOSTCA_CA_PIN_FILE.",
            code="ca_pin_required",
        )
    key = open_ca_key(parse_pkcs11_uri(config.ca_key_uri), pkcs11_login)
    return load_ca_for_key(data_dir.ca_dir, key, config.ca_key_uri)


def ca_pem(context: ServiceContext) -> str:
    return context.ca.certificate.public_bytes(Encoding.PEM).decode("ascii")


__all__ += [
    "ca_pem",
    "database_for",
    "database_url_for",
    "issue_server_certificate",
    "write_certificate",
]

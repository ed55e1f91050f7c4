"""``hostca server``: initialize and run the primary server."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from hostca.cli.output import emit, json_option
from hostca.core.errors import InvalidRequestError
from hostca.settings import DEFAULT_PORT, ServerSettings

if TYPE_CHECKING:
    from hostca.ca.pkcs11_key import Pkcs11Login
    from hostca.service.server_setup import InitResult

__all__ = ["server"]

DATA_DIR_HELP = (
    "Data directory of the primary server (default: /var/lib/hostca for root, "
    "else ~/.local/share/hostca; env HOSTCA_DATA_DIR)."
)

DATABASE_URL_HELP = (
    "Database URL: postgresql://USER@HOST:PORT/DATABASE for PostgreSQL. The default is the URL "
    "that 'hostca server init' recorded, else SQLite in the data directory (env HOSTCA_DATABASE_URL)."
)


def _read_secret_file(path: Path | None, what: str) -> bytes | None:
    if path is None:
        return None
    try:
        data = path.read_bytes().rstrip(b"\r\n")
    except OSError as error:
        raise InvalidRequestError(
            f"{path}: cannot read the {what} file: {error.strerror}.", code="file_unreadable"
        ) from None
    if not data:
        raise InvalidRequestError(f"{path}: the {what} file is empty.", code="file_empty")
    return data


def _settings(data_dir: Path | None, **overrides: object) -> ServerSettings:
    from pydantic import ValidationError

    values = {k: v for k, v in overrides.items() if v is not None}
    if data_dir is not None:
        values["data_dir"] = data_dir
    try:
        return ServerSettings(**values)  # type: ignore[arg-type]
    except ValidationError as error:
        problem = error.errors()[0]
        name = str(problem["loc"][0])
        raise InvalidRequestError(
            f"{problem['input']}: invalid {name.replace('_', '-')} ({problem['msg']}); correct "
            f"--{name.replace('_', '-')} or HOSTCA_{name.upper()}.",
            code="setting_invalid",
        ) from None


@click.group()
def server() -> None:
    """Initialize and run the primary server."""


@server.command("init")
@click.option("--data-dir", type=click.Path(path_type=Path), help=DATA_DIR_HELP)
@click.option(
    "--domain",
    help="Name of the domain, shown in the CA's subject (default: the domain part of --name).",
)
@click.option(
    "--name",
    "primary_name",
    help="Primary name of this server, the first name of its TLS certificate (default: this machine's FQDN).",
)
@click.option(
    "--alt-name",
    "alt_names",
    multiple=True,
    help="A further DNS name or IP address of this server, such as localhost or 127.0.0.1. Repeat for more.",
)
@click.option(
    "--key-type",
    type=click.Choice(["ec-p256", "ec-p384", "rsa-3072", "rsa-4096"]),
    default="ec-p256",
    show_default=True,
    help="Key type of the new CA.",
)
@click.option(
    "--admin-user",
    default="admin",
    show_default=True,
    help="Name of the first administrator (role security-admin).",
)
@click.option(
    "--admin-password-file",
    type=click.Path(path_type=Path, dir_okay=False),
    help=(
        "File with the first administrator's password (at least 12 characters). "
        "Without it a password is generated and written to the data directory."
    ),
)
@click.option(
    "--ca-passphrase-file",
    type=click.Path(path_type=Path, dir_okay=False),
    envvar="HOSTCA_CA_PASSPHRASE_FILE",
    help="File with a passphrase that encrypts the CA key (env HOSTCA_CA_PASSPHRASE_FILE).",
)
@click.option(
    "--ca-key-uri",
    help=(
        "PKCS #11 URI (RFC 7512) of a CA key in a hardware security module, such as "
        "'pkcs11:token=hostca;object=ca-key'. The key is generated in the token when it does "
        "not exist yet, and never written to disk."
    ),
)
@click.option(
    "--ca-pin-file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="File with the token's user PIN, for --ca-key-uri (env HOSTCA_CA_PIN_FILE).",
)
@click.option(
    "--pkcs11-module",
    type=click.Path(path_type=Path, dir_okay=False),
    help=(
        "PKCS #11 library of the HSM, unless the URI names one with module-path "
        "(default: SoftHSM2's library when installed; env HOSTCA_PKCS11_MODULE)."
    ),
)
@click.option(
    "--import-ca-cert",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="Use this existing CA certificate (PEM) instead of creating a CA.",
)
@click.option(
    "--import-ca-key",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="The private key (PEM) of --import-ca-cert.",
)
@click.option("--database-url", help=DATABASE_URL_HELP)
@json_option
def init(
    data_dir: Path | None,
    domain: str | None,
    primary_name: str | None,
    alt_names: tuple[str, ...],
    key_type: str,
    admin_user: str,
    admin_password_file: Path | None,
    ca_passphrase_file: Path | None,
    ca_key_uri: str | None,
    ca_pin_file: Path | None,
    pkcs11_module: Path | None,
    import_ca_cert: Path | None,
    import_ca_key: Path | None,
    database_url: str | None,
    as_json: bool,
) -> None:
    """Create the CA, the database, the server's own certificate and the first administrator.

    With --database-url, the database must be empty; the URL is recorded in the
    data directory, so later commands need not repeat it.
    """
    from hostca.service.server_setup import InitRequest, initialize_server

    if (import_ca_cert is None) != (import_ca_key is None):
        raise InvalidRequestError(
            "--import-ca-cert and --import-ca-key go together; give both or neither.",
            code="invalid_request",
        )
    if ca_key_uri is None and (ca_pin_file is not None or pkcs11_module is not None):
        raise InvalidRequestError(
            "--ca-pin-file and --pkcs11-module reach a CA key in an HSM; give --ca-key-uri too.",
            code="invalid_request",
        )
    settings = _settings(
        data_dir, ca_pin_file=ca_pin_file, pkcs11_module=pkcs11_module, database_url=database_url
    )
    password = _read_secret_file(admin_password_file, "administrator password")
    result = initialize_server(
        InitRequest(
            data_dir=settings.data_dir,
            domain=domain,
            name=primary_name,
            alt_names=alt_names,
            key_type=key_type,
            admin_user=admin_user,
            admin_password=password.decode() if password else None,
            ca_passphrase=_read_secret_file(ca_passphrase_file, "CA passphrase"),
            import_certificate_pem=import_ca_cert.read_bytes() if import_ca_cert else None,
            import_key_pem=import_ca_key.read_bytes() if import_ca_key else None,
            database_url=settings.database_url,
            ca_key_uri=ca_key_uri,
            pkcs11_login=_pkcs11_login(settings) if ca_key_uri else None,
        )
    )
    _report_init(result, settings.data_dir, as_json)


def _report_init(result: InitResult, data_dir: Path, as_json: bool) -> None:
    data = {
        "data_dir": str(data_dir),
        "primary_name": result.config.primary_name,
        "alt_names": result.config.alt_names,
        "primary_host_id": result.config.primary_host_id,
        "ca_sha256": result.ca_fingerprints["sha256"],
        "ca_sha1": result.ca_fingerprints["sha1"],
        "admin_user": result.admin_user,
        "admin_password_file": str(result.generated_password_file)
        if result.generated_password_file
        else None,
        "ca_key_uri": result.config.ca_key_uri,
        "notes": result.notes,
    }
    lines = [
        f"Initialized the primary server in {data_dir}.",
        f"  primary name:     {result.config.primary_name}",
        f"  other names:      {', '.join(result.config.alt_names) or '-'}",
        f"  host ID:          {result.config.primary_host_id}",
        f"  CA SHA-256:       {result.ca_fingerprints['sha256']}",
        f"  CA SHA-1:         {result.ca_fingerprints['sha1']}",
        f"  administrator:    {result.admin_user}",
    ]
    if result.generated_password_file:
        lines.append(f"  password file:    {result.generated_password_file} (generated; mode 0600)")
    if result.config.ca_key_uri:
        lines.append(f"  CA key:           {result.config.ca_key_uri} (in the HSM, not on disk)")
    lines += [f"  note:             {note}" for note in result.notes]
    emit(data, as_json, "\n".join(lines))


def _ca_passphrase(settings: ServerSettings, encrypted: bool) -> bytes | None:
    if not encrypted:
        return None
    if settings.ca_passphrase_file is not None:
        return _read_secret_file(settings.ca_passphrase_file, "CA passphrase")
    if sys.stdin.isatty():
        return click.prompt("CA key passphrase", hide_input=True).encode()
    raise InvalidRequestError(
        "the CA key is encrypted; give its passphrase with --ca-passphrase-file or HOSTCA_CA_PASSPHRASE_FILE.",
        code="ca_passphrase_required",
    )


def _pkcs11_login(settings: ServerSettings) -> Pkcs11Login:
    from hostca.ca.pkcs11_key import Pkcs11Login

    if settings.ca_pin_file is not None:
        pin = _read_secret_file(settings.ca_pin_file, "token PIN")
    elif sys.stdin.isatty():
        pin = click.prompt("Token user PIN", hide_input=True).encode()
    else:
        raise InvalidRequestError(
            "the CA key is in an HSM; give the token's user PIN with --ca-pin-file or "
            "HOSTCA_CA_PIN_FILE.",
            code="ca_pin_required",
        )
    return Pkcs11Login(
        module_path=settings.pkcs11_module, pin=pin or b"", pin_file=settings.ca_pin_file
    )


@server.command("run")
@click.option("--data-dir", type=click.Path(path_type=Path), help=DATA_DIR_HELP)
@click.option(
    "--listen",
    help=f"Address and port of the HTTPS listener (default 0.0.0.0:{DEFAULT_PORT}; env HOSTCA_LISTEN).",
)
@click.option(
    "--ca-passphrase-file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="File with the CA key passphrase (env HOSTCA_CA_PASSPHRASE_FILE).",
)
@click.option(
    "--ca-pin-file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="File with the user PIN of the token that keeps the CA key (env HOSTCA_CA_PIN_FILE).",
)
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"]),
    help="Logging level (default info).",
)
@click.option("--database-url", help=DATABASE_URL_HELP)
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    help="Worker processes that share the listener (default 1; env HOSTCA_WORKERS).",
)
@click.option(
    "--public-base-url",
    help=(
        "https://HOST[:PORT] that hosts reach this server at, such as a load balancer's; it goes "
        "into the CRL distribution point of issued certificates (default: the primary name and "
        "the listen port; env HOSTCA_PUBLIC_BASE_URL)."
    ),
)
def run(
    data_dir: Path | None,
    listen: str | None,
    ca_passphrase_file: Path | None,
    ca_pin_file: Path | None,
    log_level: str | None,
    database_url: str | None,
    workers: int | None,
    public_base_url: str | None,
) -> None:
    """Run the primary server: HTTPS REST API with optional client certificates.

    On an empty data directory, it first initializes one with defaults and prints
    where the generated administrator password was written. The server's
    certificate then names this machine's FQDN and short host name, localhost,
    127.0.0.1 and ::1; use 'hostca server init' first to choose other names.
    """
    from hostca.datadir import DataDir
    from hostca.service.server_setup import InitRequest, initialize_server
    from hostca.store.database import PoolLimits
    from hostca.web.server import (
        ServerSpec,
        check_address_free,
        configure_logging,
        open_server_context,
        serve,
    )

    settings = _settings(
        data_dir,
        listen=listen,
        ca_passphrase_file=ca_passphrase_file,
        ca_pin_file=ca_pin_file,
        log_level=log_level,
        database_url=database_url,
        workers=workers,
        public_base_url=public_base_url,
    )
    configure_logging(settings.log_level)
    check_address_free(settings.listen)
    layout = DataDir(settings.data_dir)
    if not layout.is_initialized():
        if not layout.is_empty():
            raise InvalidRequestError(
                f"{settings.data_dir}: not empty and not a hostca data directory; give an empty or "
                "initialized --data-dir.",
                code="not_initialized",
            )
        result = initialize_server(
            InitRequest(
                data_dir=settings.data_dir,
                alt_names=_default_alt_names(),
                database_url=settings.database_url,
            )
        )
        _report_init(result, settings.data_dir, False)
    layout.check_private_permissions()
    config = layout.read_config()
    with layout.lock_for_server():
        spec = ServerSpec(
            data_dir=settings.data_dir,
            listen=settings.listen,
            database_url=settings.database_url,
            ca_passphrase=_ca_passphrase(settings, config.ca_key_encrypted),
            hosts_file=settings.hosts_file,
            public_base_url=settings.public_base_url,
            pool=PoolLimits(settings.database_pool_size, settings.database_max_overflow),
            crl_interval_seconds=settings.crl_interval_seconds,
            log_level=settings.log_level,
            workers=settings.workers,
            pkcs11_login=_pkcs11_login(settings) if config.ca_key_uri else None,
        )
        context = open_server_context(spec)
        worker_note = f", {spec.workers} workers" if spec.workers > 1 else ""
        click.echo(
            f"hostca primary server {config.primary_name} listening on https://{settings.listen} "
            f"(data directory {settings.data_dir}{worker_note}); press Ctrl+C to stop.",
            err=True,
        )
        serve(context, spec)


def _default_alt_names() -> tuple[str, ...]:
    import socket

    short_name = socket.gethostname().split(".")[0]
    return tuple(dict.fromkeys([short_name, "localhost", "127.0.0.1", "::1"]))


@server.command("migrate")
@click.option("--data-dir", type=click.Path(path_type=Path), help=DATA_DIR_HELP)
@click.option("--database-url", help=DATABASE_URL_HELP)
def migrate(data_dir: Path | None, database_url: str | None) -> None:
    """Apply database migrations up to the schema of this hostca version.

    With replicas on one database, run it once, from any replica's data directory.
    """
    from hostca.datadir import DataDir
    from hostca.service.server_setup import database_for

    settings = _settings(data_dir, database_url=database_url)
    layout = DataDir(settings.data_dir)
    layout.read_config()
    # A server running on this data directory has checked the schema only at its
    # start, so it would go on serving a schema it was not written for.
    with layout.lock_for_server(
        "stop it before you migrate its database, then start the new version."
    ):
        database = database_for(layout, settings.database_url)
        try:
            before = database.current_revision()
            database.upgrade()
            after = database.current_revision()
        finally:
            database.dispose()
    click.echo(f"Database schema: {before or 'empty'} -> {after}.")


@server.command("move-database")
@click.option("--data-dir", type=click.Path(path_type=Path), help=DATA_DIR_HELP)
@click.option(
    "--to",
    "target_url",
    required=True,
    help="URL of the empty database to move to, such as postgresql://hostca@db.example.com/hostca.",
)
@click.option(
    "--ca-passphrase-file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="File with the CA key passphrase (env HOSTCA_CA_PASSPHRASE_FILE).",
)
@json_option
def move_database(
    data_dir: Path | None, target_url: str, ca_passphrase_file: Path | None, as_json: bool
) -> None:
    """Copy the server's database into an empty one, such as PostgreSQL, and switch to it.

    Stop the server first. The copy is one transaction, its audit chain is verified,
    and only then does the data directory name the new database. The old database
    stays as it was.
    """
    from hostca.datadir import DataDir
    from hostca.service.database_move import MoveRequest, move_database

    settings = _settings(data_dir, ca_passphrase_file=ca_passphrase_file)
    layout = DataDir(settings.data_dir)
    config = layout.read_config()
    with layout.lock_for_server():
        result = move_database(
            MoveRequest(
                data_dir=settings.data_dir,
                target_url=target_url,
                ca_passphrase=_ca_passphrase(settings, config.ca_key_encrypted),
            )
        )
    data = {"from": result.source, "to": result.target, "rows": result.rows}
    emit(
        data,
        as_json,
        f"Moved {sum(result.rows.values())} rows from {result.source} to {result.target}; "
        f"the audit chain of {result.events} events is intact. "
        f"Start the server as before: hostca server run --data-dir {settings.data_dir}",
    )


def _backup_passphrase(passphrase_file: Path | None, *, confirm: bool) -> str:
    from hostca.cli.password_files import read_password_file

    if passphrase_file is not None:
        return read_password_file(passphrase_file)
    if sys.stdin.isatty():
        passphrase: str = click.prompt(
            "Backup passphrase", hide_input=True, confirmation_prompt=confirm
        )
        return passphrase
    raise InvalidRequestError(
        "no terminal to prompt for the backup passphrase; give it with --passphrase-file.",
        code="passphrase_required",
    )


@server.command("backup")
@click.option("--data-dir", type=click.Path(path_type=Path), help=DATA_DIR_HELP)
@click.option(
    "--out",
    required=True,
    type=click.Path(path_type=Path, dir_okay=False),
    help="New file to write the encrypted archive to (mode 0600); an existing file is not replaced.",
)
@click.option(
    "--passphrase-file",
    type=click.Path(path_type=Path, dir_okay=False),
    help=(
        "File whose first line is the backup passphrase (at least 12 characters). "
        "Without it the passphrase is prompted for."
    ),
)
@json_option
def backup(data_dir: Path | None, out: Path, passphrase_file: Path | None, as_json: bool) -> None:
    """Write the CA key, database snapshot, settings and secrets to one encrypted archive.

    The server may keep running: the database is copied with SQLite's backup API,
    as of one commit. The CA key is copied as stored, so an encrypted CA key still
    needs its own passphrase after a restore. A CA key in an HSM is left out, as it
    never leaves the token. Keep the archive off this machine. The backup is
    recorded as a 'backup' audit event with the archive's SHA-256.
    """
    from hostca.service.backup import BackupRequest, create_backup

    settings = _settings(data_dir)
    result = create_backup(
        BackupRequest(
            data_dir=settings.data_dir,
            out=out,
            passphrase=_backup_passphrase(passphrase_file, confirm=True),
            database_url=settings.database_url,
        )
    )
    data = {
        "path": str(result.path),
        "size": result.size,
        "files": result.files,
        "ca_sha256": result.ca_sha256,
        "created_at": result.created_at,
        "ca_key_included": result.ca_key_uri is None,
        "ca_key_uri": result.ca_key_uri,
    }
    text = (
        f"Wrote backup {result.path} ({result.size} bytes, {len(result.files)} files) of the CA "
        f"with SHA-256 fingerprint {result.ca_sha256}."
    )
    if result.ca_key_uri:
        text += (
            f"\nThe CA key lives in an HSM ({result.ca_key_uri}) and is not in the archive; "
            "a restored server needs that token, or a copy of it made with the HSM's own tools."
        )
    emit(data, as_json, text)


@server.command("restore")
@click.argument("archive", type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "--data-dir",
    required=True,
    type=click.Path(path_type=Path),
    help="Empty or new data directory to restore into.",
)
@click.option(
    "--passphrase-file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="File whose first line is the backup passphrase. Without it the passphrase is prompted for.",
)
@json_option
def restore(archive: Path, data_dir: Path, passphrase_file: Path | None, as_json: bool) -> None:
    """Restore a primary server from an archive of 'hostca server backup'.

    The archive is decrypted and checked in full before anything is written, so a
    wrong passphrase or a damaged archive leaves the data directory as it was. The
    restored audit log ends with a 'restore' event.
    """
    from hostca.service.backup import restore_backup

    result = restore_backup(archive, data_dir, _backup_passphrase(passphrase_file, confirm=False))
    data = {
        "data_dir": str(result.data_dir),
        "files": result.files,
        "ca_sha256": result.ca_sha256,
        "primary_name": result.primary_name,
        "ca_key_encrypted": result.ca_key_encrypted,
        "ca_key_uri": result.ca_key_uri,
        "backup_created_at": result.created_at,
    }
    lines = [
        f"Restored the backup of {result.created_at} into {result.data_dir}.",
        f"  primary name:     {result.primary_name}",
        f"  CA SHA-256:       {result.ca_sha256}",
        f"  start it with:    hostca server run --data-dir {result.data_dir}",
    ]
    if result.ca_key_encrypted:
        lines.append(
            "  The CA key is encrypted: give the CA passphrase it had when you start the server."
        )
    if result.ca_key_uri:
        lines.append(
            f"  The CA key lives in an HSM ({result.ca_key_uri}): start the server where that "
            "token is reachable, with its PIN in --ca-pin-file."
        )
    emit(data, as_json, "\n".join(lines))

"""The PostgreSQL backend: URLs, schema checks, locks under concurrency, and moving from SQLite."""

from __future__ import annotations

import asyncio
import json
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from alembic import command
from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from starlette.types import Receive, Scope, Send

from hostca.core.errors import ConflictError, InvalidRequestError
from hostca.datadir import DataDir
from hostca.service.audit_service import verify_events
from hostca.service.crl_service import publish_crl
from hostca.service.server_setup import (
    InitRequest,
    check_database_collation,
    initialize_server,
    open_context,
)
from hostca.store.database import (
    Database,
    SchemaMismatchError,
    is_transient_error,
    normalize_database_url,
    sqlite_url,
)
from hostca.store.leader_lock import AdvisoryLeaderLock, FileLeaderLock
from hostca.web.retry import MAX_ATTEMPTS, TransientRetryMiddleware

from conftest import HOSTCA, free_port, fresh_database_url, start_server, stop_server

postgresql = pytest.mark.postgresql_only


def test_database_url_chooses_psycopg() -> None:
    url = normalize_database_url("postgresql://hostca@db.example.test:5433/hostca")
    assert url.drivername == "postgresql+psycopg"
    assert normalize_database_url("postgres://db.example.test/x").drivername == "postgresql+psycopg"
    assert normalize_database_url("sqlite:////var/lib/hostca/hostca.db").drivername == "sqlite"


@pytest.mark.parametrize("url", ["mysql://hostca@db/hostca", "not a url"])
def test_database_url_other_backend_rejected(url: str) -> None:
    with pytest.raises(InvalidRequestError) as raised:
        normalize_database_url(url)
    assert raised.value.code == "database_url_invalid"


def test_file_leader_lock_admits_one(tmp_path: Path) -> None:
    first, second = (
        FileLeaderLock(tmp_path / "leader.lock"),
        FileLeaderLock(tmp_path / "leader.lock"),
    )
    assert first.try_acquire() is True
    assert second.try_acquire() is False
    first.release()
    assert second.try_acquire() is True
    second.release()


@pytest.fixture
def database() -> Iterator[Database]:
    url = fresh_database_url()
    assert url is not None
    database = Database(url)
    yield database
    database.dispose()


@postgresql
def test_schema_older_and_newer_refused(database: Database) -> None:
    database.check_schema()
    with database.engine.begin() as connection:
        command.downgrade(database._alembic_config(connection), "0002")
    with pytest.raises(SchemaMismatchError, match=r"older than .* run 'hostca server migrate'"):
        database.check_schema()

    database.upgrade()
    with database.engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    with pytest.raises(SchemaMismatchError, match="9999, which this hostca does not know"):
        database.check_schema()


@postgresql
def test_advisory_leader_lock_admits_one(database: Database) -> None:
    first, second = AdvisoryLeaderLock(database), AdvisoryLeaderLock(database)
    try:
        assert first.try_acquire() is True
        assert first.try_acquire() is True
        assert second.try_acquire() is False
        first.release()
        assert second.try_acquire() is True
    finally:
        first.release()
        second.release()


def deadlock(database: Database) -> OperationalError:
    """Make two transactions lock two rows in opposite orders; return the error of the loser."""
    with database.engine.begin() as connection:
        connection.execute(text("CREATE TABLE pair (id integer PRIMARY KEY)"))
        connection.execute(text("INSERT INTO pair VALUES (1), (2)"))
    barrier = threading.Barrier(2)
    errors: list[OperationalError] = []

    def lock_both(first: int, second: int) -> None:
        try:
            with database.engine.begin() as connection:
                select_row = text("SELECT id FROM pair WHERE id = :id FOR UPDATE")
                connection.execute(select_row, {"id": first})
                barrier.wait()
                connection.execute(select_row, {"id": second})
        except OperationalError as error:
            errors.append(error)

    threads = [threading.Thread(target=lock_both, args=pair) for pair in ((1, 2), (2, 1))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(errors) == 1
    return errors[0]


@postgresql
def test_deadlock_is_transient(database: Database) -> None:
    assert is_transient_error(deadlock(database))
    assert not is_transient_error(ValueError("not a database error"))


@postgresql
def test_retry_middleware_runs_request_again(database: Database) -> None:
    error = deadlock(database)
    bodies: list[bytes] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        bodies.append((await receive())["body"])
        if len(bodies) == 1:
            raise error
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"done"})

    async def post() -> httpx.Response:
        transport = httpx.ASGITransport(app=TransientRetryMiddleware(app))
        async with httpx.AsyncClient(transport=transport, base_url="http://hostca.test") as client:
            return await client.post("/api/v1/enroll", content=b"the same body")

    answer = asyncio.run(post())
    assert answer.status_code == 200
    assert bodies == [b"the same body", b"the same body"]


@postgresql
def test_retry_middleware_gives_up(database: Database) -> None:
    error = deadlock(database)
    attempts: list[int] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        attempts.append(len(attempts) + 1)
        raise error

    async def post() -> httpx.Response:
        transport = httpx.ASGITransport(app=TransientRetryMiddleware(app))
        async with httpx.AsyncClient(transport=transport, base_url="http://hostca.test") as client:
            return await client.post("/api/v1/enroll", content=b"{}")

    with pytest.raises(OperationalError):
        asyncio.run(post())
    assert attempts == list(range(1, MAX_ATTEMPTS + 1))


@pytest.fixture
def initialized(tmp_path: Path) -> Path:
    url = fresh_database_url()
    data_dir = tmp_path / "data"
    initialize_server(InitRequest(data_dir=data_dir, name="primary.example.test", database_url=url))
    return data_dir


@postgresql
def test_init_refuses_database_in_use(initialized: Path, tmp_path: Path) -> None:
    url = json.loads((initialized / "server.json").read_text())["database_url"]
    with pytest.raises(ConflictError) as raised:
        initialize_server(InitRequest(data_dir=tmp_path / "second", database_url=url))
    assert raised.value.code == "database_not_empty"
    assert not any((tmp_path / "second").iterdir())


@postgresql
def test_concurrent_crls_numbered_in_order(initialized: Path) -> None:
    # Two contexts stand for two replicas: each has its own engine and pool.
    contexts = [
        open_context(DataDir(initialized), ca_passphrase=None, database_url=None) for _ in range(2)
    ]
    numbers: list[int] = []
    lock = threading.Lock()

    def publish(index: int) -> None:
        for _ in range(5):
            crl = publish_crl(contexts[index % 2])
            with lock:
                numbers.append(crl.crl_number)

    threads = [threading.Thread(target=publish, args=(i,)) for i in range(6)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(numbers) == list(range(min(numbers), min(numbers) + 30))
        count, breaks = verify_events(contexts[0])
        assert count > 0
        assert breaks == []
    finally:
        for context in contexts:
            context.database.dispose()


@postgresql
def test_move_sqlite_primary_to_postgresql(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    initialize_server(
        InitRequest(
            data_dir=data_dir,
            name="localhost",
            alt_names=("127.0.0.1",),
            admin_password="correct-horse-battery-staple",
        )
    )
    url = fresh_database_url()
    assert url is not None

    moved = subprocess.run(
        [HOSTCA, "server", "move-database", "--data-dir", str(data_dir), "--to", url, "--json"],
        capture_output=True,
        text=True,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    assert moved.returncode == 0, moved.stderr
    rows = json.loads(moved.stdout)["rows"]
    assert rows["hosts"] == 1
    assert rows["users"] == 1
    assert json.loads((data_dir / "server.json").read_text())["database_url"] == url

    again = subprocess.run(
        [HOSTCA, "server", "move-database", "--data-dir", str(data_dir), "--to", url],
        capture_output=True,
        text=True,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    assert again.returncode != 0
    assert "already the server's database" in again.stderr

    # The server runs on the copy, and new rows get IDs after the copied ones.
    server = start_server(data_dir, tmp_path / "server.log")
    try:
        answer = server.admin(
            "POST",
            "/api/v1/users",
            json={"name": "auditor-1", "role": "auditor", "password": "another long password"},
        )
        assert answer.status_code == 201, answer.text
        assert server.admin("GET", "/api/v1/audit/verify").json()["intact"] is True
    finally:
        stop_server(server)


@postgresql
def test_run_refuses_old_schema_until_migrated(initialized: Path) -> None:
    database = Database(json.loads((initialized / "server.json").read_text())["database_url"])
    try:
        head = database.head_revision()
        with database.engine.begin() as connection:
            command.downgrade(database._alembic_config(connection), "0002")
    finally:
        database.dispose()

    def hostca(*arguments: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [HOSTCA, "server", *arguments, "--data-dir", str(initialized)],
            capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL, timeout=120,
        )  # fmt: skip

    refused = hostca("run", "--listen", f"127.0.0.1:{free_port()}")
    assert refused.returncode != 0
    assert refused.stderr.splitlines() == [
        f"hostca: error: the database schema is at revision 0002, older than {head} that this "
        f"hostca needs; run 'hostca server migrate --data-dir {initialized}' first."
    ]
    migrated = hostca("migrate")
    assert migrated.returncode == 0, migrated.stderr
    assert migrated.stdout.strip() == f"Database schema: 0002 -> {head}."


@postgresql
def test_bytewise_collation_accepted(database: Database) -> None:
    assert database.collation() == "C"
    check_database_collation(database)


def test_other_collation_rejected(tmp_path: Path) -> None:
    class EnglishSortedDatabase(Database):
        def collation(self) -> str | None:
            return "en_US.UTF-8"

    database = EnglishSortedDatabase(sqlite_url(tmp_path / "hostca.db"))
    try:
        with pytest.raises(InvalidRequestError) as raised:
            check_database_collation(database)
    finally:
        database.dispose()
    assert raised.value.code == "database_collation_invalid"
    assert "createdb --locale=C --template=template0" in raised.value.message

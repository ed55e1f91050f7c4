"""SQLite query plans of the lookups that every enrolment or renewal runs: each one searches an index.

Without table statistics, SQLite picks among indexes that match the same number
of equality terms by rule. A lookup that lands on an index of a column that
nearly every row shares reads the whole table, which a test on a small database
never notices by its speed.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Select

from hostca.store import certificate_records, host_records
from hostca.store.database import Database, sqlite_url

pytestmark = pytest.mark.sqlite_only


def query_plan(database: Database, statement: Select[tuple[object, ...]], **values: str) -> str:
    sql = statement.compile(dialect=database.engine.dialect)
    bound = sql.construct_params(values)
    parameters = tuple(bound[name] for name in sql.positiontup or ())
    with database.engine.connect() as connection:
        rows = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", parameters).all()
    return "\n".join(str(row[-1]) for row in rows)


@pytest.fixture
def database(tmp_path: Path) -> Database:
    database = Database(sqlite_url(tmp_path / "plans.db"))
    database.upgrade()
    return database


def test_approved_owners_use_state_name_index(database: Database) -> None:
    plan = query_plan(database, host_records._APPROVED_NAME_OWNERS, name="web01.example.test")
    database.dispose()

    assert "host_names USING INDEX ix_host_names_state_name (state=? AND name=?)" in plan


def test_all_owners_use_name_index(database: Database) -> None:
    plan = query_plan(database, host_records._NAME_OWNERS, name="web01.example.test")
    database.dispose()

    assert "host_names USING INDEX ix_host_names_name (name=?)" in plan


def test_valid_certificates_of_host_use_host_status_index(database: Database) -> None:
    plan = query_plan(
        database,
        certificate_records._VALID_CERTIFICATES_OF_HOST,
        host_id="6f1c2a44-8e2b-4c3e-9d55-0b7c8e1f2a3b",
        now="2026-12-05 00:00:00.000000",
    )
    database.dispose()

    assert (
        "certificates USING COVERING INDEX ix_certificates_host_id_status "
        "(host_id=? AND status=? AND not_after>?)" in plan
    )


def test_live_certificates_of_host_use_host_index(database: Database) -> None:
    statement = certificate_records._LIVE_CERTIFICATES_OF_HOST
    plan = query_plan(
        database,
        statement,
        host_id="6f1c2a44-8e2b-4c3e-9d55-0b7c8e1f2a3b",
        now="2026-12-05 00:00:00.000000",
    )
    database.dispose()

    assert "certificates USING INDEX ix_certificates_host_id_status (host_id=?)" in plan

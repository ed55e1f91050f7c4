"""``hostca audit`` and ``hostca settings``, against a real primary."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from conftest import PrimaryServer, execute_sql, init_server, start_server, stop_server

if TYPE_CHECKING:
    from cli.conftest import HostcaCli

pytestmark = pytest.mark.e2e

EVENT_KEYS = {
    "sequence",
    "time",
    "category",
    "action",
    "actor",
    "source_ip",
    "target",
    "outcome",
    "reason",
    "error_code",
    "details",
}


def test_list_json_keys_and_reason(admin: HostcaCli) -> None:
    admin.json("token", "create", "--name", "audited", "--reason", "ticket 42")

    events = admin.json("audit", "list", "--category", "TOKEN")

    assert events
    assert all(set(event) >= EVENT_KEYS for event in events)
    created = next(e for e in events if e["target"] == "audited" and e["action"] == "create")
    assert created["category"] == "TOKEN"
    assert created["actor"] == "admin"
    assert created["source_ip"] == "127.0.0.1"
    assert created["outcome"] == "success"
    assert created["reason"] == "ticket 42"


def test_list_records_failures(admin: HostcaCli) -> None:
    admin.json("token", "create", "--name", "twice")
    admin.fails("token", "create", "--name", "twice")

    events = admin.json("audit", "list", "--category", "token", "--actor", "admin")

    failed = [e for e in events if e["target"] == "twice" and e["outcome"] == "failure"]
    assert [e["error_code"] for e in failed] == ["token_name_taken"]


def test_list_filters(admin: HostcaCli) -> None:
    host = admin.json("host", "add", "audit-01.example.test")
    admin.ok("host", "mapping", "add", "audit-01.example.test", "audit-01")

    by_host = admin.json("audit", "list", "--host", "audit-01.example.test")
    limited = admin.json("audit", "list", "--limit", "2")
    future = admin.json("audit", "list", "--since", "2999-01-01T00:00:00Z")

    assert {e["action"] for e in by_host} == {"add", "mapping_add"}
    assert all(e["host_id"] == host["host_id"] for e in by_host)
    assert len(limited) == 2
    assert future == []
    assert "no UTC offset" in admin.fails("audit", "list", "--since", "2020-01-01")
    assert "unknown category" in admin.fails("audit", "list", "--category", "BOGUS")


def test_list_text_table(admin: HostcaCli) -> None:
    text = admin.ok("audit", "list", "--category", "LOGIN").stdout

    assert text.splitlines()[0].split()[:4] == ["SEQ", "TIME", "CATEGORY", "ACTION"]
    assert "login" in text


def test_verify_intact(admin: HostcaCli) -> None:
    result = admin.json("audit", "verify")
    text = admin.ok("audit", "verify").stdout

    assert result["intact"] is True
    assert result["breaks"] == []
    assert result["events"] > 0
    assert "intact" in text


def test_export_jsonl_to_file(admin: HostcaCli, tmp_path: Path) -> None:
    out = tmp_path / "audit.jsonl"

    result = admin.ok("audit", "export", "--format", "jsonl", "--out", str(out))

    events = [json.loads(line) for line in out.read_text().splitlines()]
    assert f"Exported {len(events)} audit events to {out}." in result.stdout
    sequences = [event["sequence"] for event in events]
    assert sequences == sorted(sequences)
    assert sequences[0] == 1
    assert all(set(event) >= EVENT_KEYS for event in events)


def test_export_csv_to_stdout(admin: HostcaCli) -> None:
    admin.fails(
        "login",
        "--server",
        admin.server.url,
        "--user",
        "=HYPERLINK(1)",
        "--ca-file",
        str(admin.server.ca_file),
        "--password-file",
        str(admin.password_file()),
    )

    text = admin.ok("audit", "export", "--format", "csv").stdout

    rows = list(csv.DictReader(io.StringIO(text)))
    assert rows
    assert set(rows[0]) >= EVENT_KEYS
    assert [row["sequence"] for row in rows] == [str(n) for n in range(1, len(rows) + 1)]
    targets = [row["target"] for row in rows if row["action"] == "login"]
    assert "'=HYPERLINK(1)" in targets
    assert "unknown export format" in admin.fails("audit", "export", "--format", "xml")


def test_settings_get_all_and_one(admin: HostcaCli) -> None:
    values = admin.json("settings", "get")
    one = admin.json("settings", "get", "security-level")
    text = admin.ok("settings", "get").stdout

    assert values["security_level"] == "high"
    assert values["auto_map"] is False
    assert one == {"security_level": "high"}
    assert "security-level" in text
    assert "unknown setting" in admin.fails("settings", "get", "no-such-key")


def test_settings_set_is_audited(admin: HostcaCli) -> None:
    result = admin.ok("settings", "set", "certificate-lifetime-days", "90")
    changed = admin.json("settings", "set", "auto-map", "on")

    assert result.stdout.strip() == "Set certificate-lifetime-days to 90."
    assert changed["auto_map"] is True
    assert admin.json("settings", "get", "certificate_lifetime_days") == {
        "certificate_lifetime_days": 90
    }
    events = admin.json("audit", "list", "--category", "SEC_CONFIG")
    assert "certificate_lifetime_days" in {e["target"] for e in events}
    admin.ok("settings", "set", "auto-map", "off")
    admin.ok("settings", "set", "certificate-lifetime-days", "365")


def test_settings_set_rejections(admin: HostcaCli) -> None:
    assert "not a security level" in admin.fails("settings", "set", "security-level", "ultra")
    assert "unknown setting" in admin.fails("settings", "set", "bogus", "1")
    assert "1 to 825" in admin.fails("settings", "set", "certificate-lifetime-days", "0")


@pytest.fixture
def tampered_server(tmp_path: Path) -> Iterator[PrimaryServer]:
    """A server of its own, because the test breaks its audit chain."""
    data_dir = tmp_path / "data"
    init_server(data_dir, tmp_path)
    server = start_server(data_dir, tmp_path / "server.log")
    yield server
    stop_server(server)


def test_verify_broken_chain_fails(
    tampered_server: PrimaryServer, cli_for: Callable[[PrimaryServer], HostcaCli]
) -> None:
    cli = cli_for(tampered_server)
    assert cli.login("--ca-file", str(tampered_server.ca_file)).returncode == 0
    execute_sql(
        tampered_server.data_dir, ["UPDATE audit_events SET actor = 'mallory' WHERE sequence = 2"]
    )

    result = cli.run("audit", "verify")

    assert result.returncode != 0
    assert result.stdout.splitlines()[0].startswith("break at event 2")
    assert len(result.stderr.splitlines()) == 1
    assert "break(s)" in result.stderr
    shown = json.loads(cli.run("audit", "verify", "--json").stdout)
    assert shown["intact"] is False

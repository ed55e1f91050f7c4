"""Several primaries in one state directory: layout, choosing with --server, status and forget."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from click.testing import CliRunner, Result

from hostca.agent.servers import StateRoot
from hostca.agent.state import AgentConfig, StateDir
from hostca.cli.main import cli
from hostca.core.errors import HostcaError
from hostca.core.fingerprints import fingerprint

if TYPE_CHECKING:
    from conftest import FakePrimary

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


def trust(state_dir: Path, primary: FakePrimary) -> None:
    sha256 = fingerprint(primary.ca.certificate, "sha256")
    result = invoke(state_dir, "trust", "--server", primary.url, "--fingerprint", sha256)
    assert result.exit_code == 0, result.output


def enroll(state_dir: Path, primary: FakePrimary, name: str) -> dict[str, Any]:
    result = invoke(
        state_dir, "enroll", "--server", primary.url, "--token", TOKEN, "--name", name, "--json"
    )
    assert result.exit_code == 0, result.output
    answer: dict[str, Any] = json.loads(result.stdout)
    return answer


def test_first_server_uses_top_level(tmp_path: Path) -> None:
    root = StateRoot(tmp_path)
    chosen = root.directory_for("primary-1.example.test")
    assert chosen.root == tmp_path


def test_further_server_gets_subdirectory(tmp_path: Path) -> None:
    root = StateRoot(tmp_path)
    StateDir(tmp_path).write_config(AgentConfig(server="https://primary-1.example.test:1556"))

    chosen = root.directory_for("https://PRIMARY-2.example.test:8443/")

    assert chosen.root == tmp_path / "servers" / "primary-2.example.test_8443"
    assert not chosen.root.exists()


@pytest.mark.parametrize(
    ("server", "directory"),
    [
        ("[2001:db8::1]:1556", "2001_db8_1_1556"),
        ("10.0.0.5", "10.0.0.5_1556"),
    ],
)
def test_subdirectory_names_are_safe(tmp_path: Path, server: str, directory: str) -> None:
    StateDir(tmp_path).write_config(AgentConfig(server="https://primary-1.example.test:1556"))
    assert StateRoot(tmp_path).directory_for(server).root.name == directory


def test_subdirectory_name_collision(tmp_path: Path) -> None:
    StateDir(tmp_path).write_config(AgentConfig(server="https://primary-1.example.test:1556"))
    occupied = tmp_path / "servers" / "primary-2.example.test_1556"
    StateDir(occupied).write_config(AgentConfig(server="https://other.example.test:1556"))

    chosen = StateRoot(tmp_path).directory_for("primary-2.example.test")

    assert chosen.root == occupied.with_name("primary-2.example.test_1556-2")


def test_single_server_layout_read_as_is(tmp_path: Path) -> None:
    StateDir(tmp_path).write_config(AgentConfig(server="https://primary-1.example.test:1556"))

    root = StateRoot(tmp_path)

    assert [item.server for item in root.servers()] == ["https://primary-1.example.test:1556"]
    assert root.select(None).root == tmp_path
    assert root.select("primary-1.example.test").root == tmp_path


def test_select_without_servers(tmp_path: Path) -> None:
    root = StateRoot(tmp_path)
    with pytest.raises(HostcaError) as caught:
        root.select(None)
    assert caught.value.code == "server_missing"
    assert root.select_or_first(None).root == tmp_path


def test_select_unknown_server_lists_known(tmp_path: Path) -> None:
    StateDir(tmp_path).write_config(AgentConfig(server="https://primary-1.example.test:1556"))
    with pytest.raises(HostcaError) as caught:
        StateRoot(tmp_path).select("primary-9.example.test")
    assert caught.value.code == "server_unknown"
    assert "https://primary-9.example.test:1556" in caught.value.message
    assert "it trusts https://primary-1.example.test:1556" in caught.value.message


def test_commands_need_server_when_several(
    fake_primary: FakePrimary, second_primary: FakePrimary, tmp_path: Path
) -> None:
    trust(tmp_path, fake_primary)
    trust(tmp_path, second_primary)

    for command in (["renew"], ["crl", "fetch"], ["self-check"], ["clock-skew"], ["forget"]):
        result = invoke(tmp_path, *command)
        assert error_code(result) == "server_ambiguous", command
        assert fake_primary.url in str(result.exception)
        assert second_primary.url in str(result.exception)


def test_two_servers_enrol_and_status(
    fake_primary: FakePrimary, second_primary: FakePrimary, tmp_path: Path
) -> None:
    trust(tmp_path, fake_primary)
    trust(tmp_path, second_primary)
    first = enroll(tmp_path, fake_primary, "web-01.example.test")
    second = enroll(tmp_path, second_primary, "web-01.example.test")

    second_dir = (
        tmp_path / "servers" / second_primary.url.removeprefix("https://").replace(":", "_")
    )
    assert first["certificate_file"] == str(tmp_path / "cert.pem")
    assert second["certificate_file"] == str(second_dir / "cert.pem")
    assert (second_dir / "ca.pem").read_bytes() == second_primary.ca.pem

    result = invoke(tmp_path, "status", "--json")
    assert result.exit_code == 0, result.output
    status = json.loads(result.stdout)
    assert status.keys() >= STATUS_KEYS
    assert status["server"] == fake_primary.url
    assert status["host_id"] == first["host_id"]
    assert [item["server"] for item in status["servers"]] == [fake_primary.url, second_primary.url]
    assert [item["host_id"] for item in status["servers"]] == [first["host_id"], second["host_id"]]
    for item in status["servers"]:
        assert item.keys() >= STATUS_KEYS
        assert item["status"] == "valid"

    chosen = json.loads(invoke(tmp_path, "status", "--json", "--server", second_primary.url).stdout)
    assert chosen["host_id"] == second["host_id"]

    text = invoke(tmp_path, "status")
    assert "This agent trusts 2 primary servers." in text.stdout


def test_renew_with_server_option(
    fake_primary: FakePrimary, second_primary: FakePrimary, tmp_path: Path
) -> None:
    trust(tmp_path, fake_primary)
    trust(tmp_path, second_primary)
    enroll(tmp_path, fake_primary, "web-01.example.test")
    second = enroll(tmp_path, second_primary, "web-01.example.test")
    first_certificate = (tmp_path / "cert.pem").read_bytes()

    result = invoke(tmp_path, "renew", "--server", second_primary.url, "--json")

    assert result.exit_code == 0, result.output
    renewed = json.loads(result.stdout)
    assert renewed["host_id"] == second["host_id"]
    assert renewed["serial_number"] != second["serial_number"]
    assert (tmp_path / "cert.pem").read_bytes() == first_certificate
    assert [path for (method, path, _) in fake_primary.requests if method == "POST"] == [
        "/api/v1/enroll"
    ]


def test_forget_one_server(
    fake_primary: FakePrimary, second_primary: FakePrimary, tmp_path: Path
) -> None:
    trust(tmp_path, fake_primary)
    trust(tmp_path, second_primary)
    enroll(tmp_path, fake_primary, "web-01.example.test")
    enroll(tmp_path, second_primary, "web-01.example.test")

    result = invoke(tmp_path, "forget", "--server", second_primary.url, "--force")

    assert result.exit_code == 0, result.output
    assert second_primary.url in result.stdout
    assert not (tmp_path / "servers").exists()
    assert (tmp_path / "cert.pem").is_file()
    assert [item.server for item in StateRoot(tmp_path).servers()] == [fake_primary.url]
    assert invoke(tmp_path, "renew").exit_code == 0


def test_forget_first_keeps_others(
    fake_primary: FakePrimary, second_primary: FakePrimary, tmp_path: Path
) -> None:
    trust(tmp_path, fake_primary)
    trust(tmp_path, second_primary)
    enroll(tmp_path, second_primary, "web-01.example.test")

    result = invoke(tmp_path, "forget", "--server", fake_primary.url, "--force")

    assert result.exit_code == 0, result.output
    assert not (tmp_path / "ca.pem").exists()
    assert [item.server for item in StateRoot(tmp_path).servers()] == [second_primary.url]
    status = json.loads(invoke(tmp_path, "status", "--json").stdout)
    assert status["server"] == second_primary.url
    assert status["status"] == "valid"

    # The top level is free again, so the next new primary takes it.
    trust(tmp_path, fake_primary)
    assert json.loads((tmp_path / "agent.json").read_text())["server"] == fake_primary.url

"""The agent state directory: default location, modes, atomic writes, commit and forget."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from hostca.agent import state as state_module
from hostca.agent.state import (
    ROOT_STATE_DIR,
    AgentConfig,
    Identity,
    StateDir,
    default_state_dir,
    write_file_atomically,
)
from hostca.core.errors import HostcaError


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _temporary_files(directory: Path) -> list[Path]:
    return [path for path in directory.rglob("*") if path.name.endswith(".tmp")]


def test_default_state_dir_for_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    assert default_state_dir() == ROOT_STATE_DIR


def test_default_state_dir_uses_xdg_data_home(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    assert default_state_dir() == tmp_path / "data" / "hostca-agent"


def test_default_state_dir_ignores_relative_xdg(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    monkeypatch.setenv("XDG_DATA_HOME", "relative/data")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_state_dir() == tmp_path / ".local" / "share" / "hostca-agent"


def test_ensure_restricts_private_dir(tmp_path: Path) -> None:
    state = StateDir(tmp_path / "agent")
    state.root.mkdir()
    state.private_dir.mkdir(mode=0o755)
    os.chmod(state.private_dir, 0o755)  # noqa: S103  # the test starts from a too open directory

    state.ensure()

    assert _mode(state.private_dir) == 0o700


def test_ensure_ignores_permissive_umask(tmp_path: Path) -> None:
    state = StateDir(tmp_path / "agent")
    previous = os.umask(0)
    try:
        state.ensure()
    finally:
        os.umask(previous)
    assert _mode(state.private_dir) == 0o700


def test_write_atomically_sets_exact_mode(tmp_path: Path) -> None:
    target = tmp_path / "key.pem"
    previous = os.umask(0o077)
    try:
        write_file_atomically(target, b"public", 0o644)
    finally:
        os.umask(previous)
    assert target.read_bytes() == b"public"
    assert _mode(target) == 0o644


def test_write_atomically_replaces_content(tmp_path: Path) -> None:
    target = tmp_path / "cert.pem"
    target.write_bytes(b"old")
    write_file_atomically(target, b"new", 0o600)
    assert target.read_bytes() == b"new"
    assert _mode(target) == 0o600
    assert _temporary_files(tmp_path) == []


def test_write_atomically_failure_keeps_old(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "cert.pem"
    target.write_bytes(b"old")

    def failing_fsync(descriptor: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(OSError, match="No space left"):
        write_file_atomically(target, b"new", 0o644)

    assert target.read_bytes() == b"old"
    assert _temporary_files(tmp_path) == []


def test_config_round_trip(tmp_path: Path) -> None:
    state = StateDir(tmp_path / "agent")
    config = AgentConfig(
        server="https://primary.example.test:1556",
        host_id="3f2c0d6e-6f1e-4a43-9d0e-3a6f9b7d1c2a",
        names=("web-01.example.test", "10.0.0.5"),
        key_type="ec-p256",
    )
    state.write_config(config)
    assert state.read_config() == config
    assert _mode(state.config_file) == 0o644


def test_missing_config_is_empty(tmp_path: Path) -> None:
    assert StateDir(tmp_path).read_config() == AgentConfig()


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("{not json", "invalid JSON"),
        ("[]", "expected a JSON object"),
        ('{"names": "web-01"}', "names must be a list of strings"),
        ('{"server": 1556}', "server must be a string"),
    ],
)
def test_corrupt_config_is_named(tmp_path: Path, content: str, problem: str) -> None:
    state = StateDir(tmp_path)
    state.config_file.write_text(content)
    with pytest.raises(HostcaError) as caught:
        state.read_config()
    assert caught.value.code == "state_invalid"
    assert str(state.config_file) in caught.value.message
    assert problem in caught.value.message


def test_commit_identity_modes(tmp_path: Path) -> None:
    state = StateDir(tmp_path / "agent")
    config = AgentConfig(server="https://p:1556", host_id="h", names=("a.example.test",))

    state.commit_identity(Identity(certificate_pem=b"CERT", key_pem=b"KEY", config=config))

    assert state.key_file.read_bytes() == b"KEY"
    assert state.certificate_file.read_bytes() == b"CERT"
    assert state.read_config() == config
    assert _mode(state.key_file) == 0o600
    assert _mode(state.private_dir) == 0o700
    assert _mode(state.certificate_file) == 0o644
    assert _temporary_files(state.root) == []


def test_commit_identity_without_key_keeps_key(tmp_path: Path) -> None:
    state = StateDir(tmp_path / "agent")
    config = AgentConfig(host_id="h")
    state.commit_identity(Identity(certificate_pem=b"CERT-1", key_pem=b"KEY", config=config))
    state.commit_identity(Identity(certificate_pem=b"CERT-2", key_pem=None, config=config))
    assert state.key_file.read_bytes() == b"KEY"
    assert state.certificate_file.read_bytes() == b"CERT-2"


def test_commit_identity_failure_changes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = StateDir(tmp_path / "agent")
    old_config = AgentConfig(host_id="old")
    state.commit_identity(
        Identity(certificate_pem=b"OLD-CERT", key_pem=b"OLD-KEY", config=old_config)
    )

    real_stage = state_module._stage

    def stage_failing_on_certificate(path: Path, data: bytes, mode: int) -> Path:
        if path == state.certificate_file:
            raise OSError(28, "No space left on device")
        return real_stage(path, data, mode)

    monkeypatch.setattr(state_module, "_stage", stage_failing_on_certificate)
    with pytest.raises(OSError, match="No space left"):
        state.commit_identity(
            Identity(certificate_pem=b"NEW-CERT", key_pem=b"NEW-KEY", config=AgentConfig())
        )

    assert state.key_file.read_bytes() == b"OLD-KEY"
    assert state.certificate_file.read_bytes() == b"OLD-CERT"
    assert state.read_config() == old_config
    assert _temporary_files(state.root) == []


def test_forget_deletes_everything(tmp_path: Path) -> None:
    state = StateDir(tmp_path / "agent")
    state.commit_identity(Identity(certificate_pem=b"C", key_pem=b"K", config=AgentConfig()))
    state.write_ca_bundle(b"CA")
    state.write_crl(b"CRL")

    deleted = state.forget()

    assert set(deleted) == {
        state.key_file,
        state.certificate_file,
        state.crl_file,
        state.ca_file,
        state.config_file,
    }
    assert not state.root.exists()


def test_forget_keeps_foreign_files(tmp_path: Path) -> None:
    state = StateDir(tmp_path / "agent")
    state.write_ca_bundle(b"CA")
    (state.root / "notes.txt").write_text("mine")

    assert state.forget() == [state.ca_file]
    assert (state.root / "notes.txt").exists()

"""Each compatibility command line and the hostca command line it runs, without a server.

``run_hostca`` is replaced by a recorder, so these tests pin the translation
alone. The end-to-end tests run the same command lines against a real primary.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from types import ModuleType

import pytest

from hostca.compat import bpnbat, nbcertcmd, nbhostmgmt, nbseccmd
from hostca.compat.exit_status import EXIT_USAGE
from hostca.compat.syntax import OutputFormat
from hostca.core.crl import REASON_CODES, parse_reason_code
from hostca.core.policy import SECURITY_LEVELS

Call = tuple[list[str], OutputFormat]


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[Call]:
    """The hostca command lines that the commands run, in order, instead of running them."""
    recorded: list[Call] = []

    def record(arguments: list[str], output_format: OutputFormat = OutputFormat.TEXT) -> int:
        recorded.append((list(arguments), output_format))
        return 0

    for module in (nbcertcmd, nbhostmgmt, bpnbat, nbseccmd):
        monkeypatch.setattr(module, "run_hostca", record)
    return recorded


def translate(calls: list[Call], module: ModuleType, *arguments: str) -> Call:
    """Run one command line and return the one hostca command line it ran."""
    command = getattr(module, module.SYNTAX.program)
    status = command(list(arguments))
    assert status == 0
    assert len(calls) == 1, calls
    return calls[0]


NBCERTCMD = [
    (
        ["-createToken", "-name", "t", "-maxUses", "5", "-validFor", "2D4H", "-reason", "r s"],
        [
            "token",
            "create",
            "--name",
            "t",
            "--max-uses",
            "5",
            "--valid-for",
            "2D4H",
            "--reason",
            "r s",
        ],
    ),
    (
        ["-createtoken", "-NAME", "t", "-REISSUE", "-HOST", "web-01.example.test"],
        ["token", "create", "--name", "t", "--reissue", "--host", "web-01.example.test"],
    ),
    (
        ["-createToken", "-name", "t", "-reissue", "-hostId", "ID"],
        ["token", "create", "--name", "t", "--reissue", "--host-id", "ID"],
    ),
    (["-listTokens"], ["token", "list"]),
    (["-displayToken", "-name", "t"], ["token", "show", "t"]),
    (["-deleteToken", "-name", "t", "-reason", "r"], ["token", "delete", "t", "--reason", "r"]),
    (["-cleanupToken"], ["token", "cleanup"]),
    (["-getCACertificate", "-server", "primary"], ["agent", "trust", "--server", "primary"]),
    (
        ["-getCACertificate", "-server", "primary", "-force"],
        ["agent", "trust", "--server", "primary"],
    ),
    (
        ["-getCertificate", "-server", "primary", "-token"],
        ["agent", "enroll", "--server", "primary", "--token"],
    ),
    (
        ["-getCertificate", "-token", "-server", "primary:4443"],
        ["agent", "enroll", "--server", "primary:4443", "--token"],
    ),
    (
        ["-getCertificate", "-force", "-file", "token_file"],
        ["agent", "enroll", "--token-file", "token_file", "--force"],
    ),
    (
        ["-getCertificate", "-envtoken", "VAR", "-host", "web-02.example.test"],
        ["agent", "enroll", "--name", "web-02.example.test", "--token-env", "VAR"],
    ),
    (["-getCertificate"], ["agent", "enroll"]),
    (["-renewCertificate"], ["agent", "renew"]),
    (
        ["-renewCertificate", "-server", "https://primary:1556"],
        ["agent", "renew", "--server", "https://primary:1556"],
    ),
    (
        ["-revokeCertificate", "-host", "h", "-reasonCode", "1"],
        ["cert", "revoke", "--host", "h", "--reason-code", "key-compromise"],
    ),
    (
        ["-revokeCertificate", "-hostId", "ID", "-reason", "lost"],
        ["cert", "revoke", "--host-id", "ID", "--reason", "lost"],
    ),
    (
        ["-revokeCertificate", "-certSerial", "0A1B", "-reasonCode", "superseded"],
        ["cert", "revoke", "--serial", "0A1B", "--reason-code", "superseded"],
    ),
    (
        ["-revokeCertificate", "-certSerial", "0A1B", "-reasonCode", "6"],
        ["cert", "revoke", "--serial", "0A1B", "--reason-code", "6"],
    ),
    (["-getCRL", "-server", "p"], ["agent", "crl", "fetch", "--server", "p"]),
    (["-listCertDetails"], ["agent", "status"]),
    (["-listCACertDetails"], ["ca", "show"]),
    (["-displayCACertDetail"], ["ca", "show"]),
    (["-checkClockSkew"], ["agent", "clock-skew"]),
    (
        ["-createCertRequest", "-requestFile", "r.pem", "-host", "n"],
        ["agent", "csr", "--out", "r.pem", "--name", "n"],
    ),
    (
        ["-signCertificate", "-requestFile", "r.pem", "-certificateFile", "c.pem", "-file", "t"],
        ["cert", "sign", "--csr", "r.pem", "--out", "c.pem", "--token-file", "t"],
    ),
    (
        ["-signCertificate", "-requestFile", "r.pem", "-certificateFile", "c.pem"],
        ["cert", "sign", "--csr", "r.pem", "--out", "c.pem"],
    ),
    (
        ["-deployCertificate", "-certificateFile", "c.pem", "-server", "p"],
        ["agent", "install-cert", "c.pem", "--server", "p"],
    ),
    (["-deleteCertificate"], ["agent", "forget"]),
    (
        ["-deleteCertificate", "-server", "p", "-force"],
        ["agent", "forget", "--server", "p", "--force"],
    ),
    (["-removeCACertificate", "-force"], ["agent", "forget", "--force"]),
]


@pytest.mark.parametrize(("arguments", "expected"), NBCERTCMD, ids=lambda value: " ".join(value))
def test_nbcertcmd_translation(
    calls: list[Call], arguments: list[str], expected: list[str]
) -> None:
    assert translate(calls, nbcertcmd, *arguments)[0] == expected


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        (["-listTokens", "-json"], (["token", "list"], OutputFormat.JSON)),
        (["-listTokens", "-json_compact"], (["token", "list"], OutputFormat.JSON_COMPACT)),
        (["-listCertDetails", "-json"], (["agent", "status"], OutputFormat.JSON)),
        (["-listCACertDetails", "-JSON"], (["ca", "show"], OutputFormat.JSON)),
    ],
)
def test_nbcertcmd_json(calls: list[Call], arguments: list[str], expected: Call) -> None:
    assert translate(calls, nbcertcmd, *arguments) == expected


def test_reason_numbers_are_rfc_5280() -> None:
    for number, name in nbcertcmd.REASON_CODE_NAMES.items():
        assert name in REASON_CODES
        assert parse_reason_code(int(number)) is REASON_CODES[name]
    assert sorted(nbcertcmd.REASON_CODE_NAMES.values()) == sorted(REASON_CODES)


def test_fingerprint_file_becomes_option(calls: list[Call], tmp_path: Path) -> None:
    fingerprint_file = tmp_path / "fp"
    fingerprint_file.write_text("\n  sha256 Fingerprint=AB:CD:EF  \n")

    arguments, _ = translate(
        calls, nbcertcmd, "-getCACertificate", "-server", "p", "-file", str(fingerprint_file)
    )

    assert arguments == ["agent", "trust", "--server", "p", "--fingerprint", "AB:CD:EF"]


def test_empty_fingerprint_file(
    calls: list[Call], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fingerprint_file = tmp_path / "fp"
    fingerprint_file.write_text("\n")

    status = nbcertcmd.nbcertcmd(
        ["-getCACertificate", "-server", "p", "-file", str(fingerprint_file)]
    )

    assert status == 30
    assert calls == []
    assert capsys.readouterr().err == (
        f"hostca: error: {fingerprint_file}: the fingerprint file is empty; write the CA's "
        "SHA-256 fingerprint in it.\n"
    )


def test_sign_with_environment_token(calls: list[Call], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OFFLINE_TOKEN", "ABCD-EFGH-IJKL-MNOP")

    arguments, _ = translate(
        calls,
        nbcertcmd,
        "-signCertificate",
        "-requestFile",
        "r.pem",
        "-certificateFile",
        "c.pem",
        "-envtoken",
        "OFFLINE_TOKEN",
    )

    assert arguments[-2:] == ["--token", "ABCD-EFGH-IJKL-MNOP"]


NBHOSTMGMT = [
    (
        ["-add", "-hostid", "ID", "-mappingname", "m", "-shared"],
        ["host", "mapping", "add", "ID", "m", "--shared"],
    ),
    (["-ADD", "-Host", "n", "-MappingName", "m"], ["host", "mapping", "add", "n", "m"]),
    (["-delete", "-host", "n", "-mappingname", "m"], ["host", "mapping", "remove", "n", "m"]),
    (["-list"], ["host", "list"]),
    (["-list", "-hostid", "ID"], ["host", "show", "ID"]),
    (["-list", "-host", "n"], ["host", "show", "n"]),
    (["-approve", "-host", "n", "-mappingname", "m"], ["host", "mapping", "approve", "n", "m"]),
    (["-reject", "-hostid", "ID", "-mappingname", "m"], ["host", "mapping", "reject", "ID", "m"]),
    (["-listpending"], ["host", "mapping", "pending"]),
]


@pytest.mark.parametrize(("arguments", "expected"), NBHOSTMGMT, ids=lambda value: " ".join(value))
def test_nbhostmgmt_translation(
    calls: list[Call], arguments: list[str], expected: list[str]
) -> None:
    assert translate(calls, nbhostmgmt, *arguments)[0] == expected


def test_bpnbat_login_options(calls: list[Call]) -> None:
    arguments, _ = translate(
        calls,
        bpnbat,
        "-login",
        "-logintype",
        "web",
        "-server",
        "primary",
        "-user",
        "ops",
        "-password-file",
        "pw",
    )

    assert arguments == ["login", "--server", "primary", "--user", "ops", "--password-file", "pw"]


def test_bpnbat_answer_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    answers = tmp_path / "answers"
    answers.write_text(
        "# bpnbat answers\n\nserver = primary:1556\nUSER=ops\npassword=s3cret\nfingerprint=AB:CD\n"
    )
    seen: dict[str, object] = {}

    def record(arguments: list[str], output_format: OutputFormat = OutputFormat.TEXT) -> int:
        password_file = Path(arguments[arguments.index("--password-file") + 1])
        seen["arguments"] = arguments
        seen["password"] = password_file.read_text()
        seen["mode"] = stat.S_IMODE(os.stat(password_file).st_mode)
        seen["password_file"] = password_file
        return 0

    monkeypatch.setattr(bpnbat, "run_hostca", record)
    assert bpnbat.bpnbat(["-login", "-logintype", "WEB", "-info", str(answers)]) == 0

    assert seen["arguments"] == [
        "login",
        "--server",
        "primary:1556",
        "--user",
        "ops",
        "--fingerprint",
        "AB:CD",
        "--password-file",
        str(seen["password_file"]),
    ]
    assert seen["password"] == "s3cret\n"
    assert seen["mode"] == 0o600
    assert not Path(str(seen["password_file"])).exists()
    assert "s3cret" not in capsys.readouterr().out


def test_bpnbat_options_override_answer_file(calls: list[Call], tmp_path: Path) -> None:
    answers = tmp_path / "answers"
    answers.write_text("server=from-file\nuser=from-file\n")

    arguments, _ = translate(
        calls, bpnbat, "-login", "-logintype", "WEB", "-info", str(answers), "-server", "cli"
    )

    assert arguments == ["login", "--server", "cli", "--user", "from-file"]


def test_bpnbat_answer_file_unknown_key(
    calls: list[Call], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    answers = tmp_path / "answers"
    answers.write_text("server=p\ndomain=example\n")

    status = bpnbat.bpnbat(["-login", "-logintype", "WEB", "-info", str(answers)])

    assert status == 30
    assert calls == []
    assert capsys.readouterr().err == (
        f"hostca: error: {answers}, line 2: expected key=value with one of the keys server, "
        "user, password, fingerprint.\n"
    )


def test_bpnbat_other_login_type(calls: list[Call], capsys: pytest.CaptureFixture[str]) -> None:
    status = bpnbat.bpnbat(["-login", "-logintype", "unixpwd"])

    assert status == EXIT_USAGE
    assert calls == []
    error = capsys.readouterr().err.splitlines()
    assert error[0] == "bpnbat: error: -logintype unixpwd: only WEB is supported."
    assert error[1].startswith("usage: bpnbat -login -logintype WEB")


def test_bpnbat_logout(calls: list[Call]) -> None:
    assert translate(calls, bpnbat, "-LOGOUT")[0] == ["logout"]


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        (["-setsecurityconfig", "-certdeploylevel", "0"], [["security-level", "very-high"]]),
        (["-setsecurityconfig", "-certdeploylevel", "1"], [["security-level", "high"]]),
        (["-setsecurityconfig", "-certdeploylevel", "2"], [["security-level", "medium"]]),
        (["-setSecurityConfig", "-autoAddHostMapping", "on"], [["auto-map", "on"]]),
        (
            ["-setsecurityconfig", "-autoaddhostmapping", "off", "-certdeploylevel", "2"],
            [["security-level", "medium"], ["auto-map", "off"]],
        ),
    ],
)
def test_nbseccmd_translation(
    calls: list[Call], arguments: list[str], expected: list[list[str]]
) -> None:
    assert nbseccmd.nbseccmd(arguments) == 0

    assert [call[0] for call in calls] == [["settings", "set", *pair] for pair in expected]


def test_security_level_numbers() -> None:
    assert sorted(nbseccmd.SECURITY_LEVELS_BY_NUMBER.values()) == sorted(SECURITY_LEVELS)


@pytest.mark.parametrize(
    "arguments",
    [
        ["-setsecurityconfig"],
        ["-setsecurityconfig", "-certdeploylevel", "3"],
        ["-setsecurityconfig", "-certdeploylevel", "high"],
    ],
)
def test_nbseccmd_usage_errors(calls: list[Call], arguments: list[str]) -> None:
    assert nbseccmd.nbseccmd(arguments) == EXIT_USAGE
    assert calls == []


def test_help_prints_usage(calls: list[Call], capsys: pytest.CaptureFixture[str]) -> None:
    assert nbcertcmd.nbcertcmd(["-help"]) == 0

    out = capsys.readouterr().out
    assert out.startswith("usage: nbcertcmd -createToken -name NAME")
    assert calls == []

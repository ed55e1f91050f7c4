"""SoftHSM2 tokens for the PKCS #11 tests, each in its own temporary directory.

A token lives in the directory that ``directories.tokendir`` of the file named by
``SOFTHSM2_CONF`` gives, so a test that sets that variable finds only its own
tokens. SoftHSM2 reads the variable when the library is initialized.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pkcs11
import pytest

SOFTHSM2_MODULE = Path("/usr/lib/softhsm/libsofthsm2.so")
USER_PIN = "4711-hostca"
SO_PIN = "so-0815-hostca"


@dataclass(frozen=True)
class SoftHsmToken:
    """An initialized SoftHSM2 token and what a test needs to reach it."""

    directory: Path
    conf: Path
    label: str
    pin_file: Path

    @property
    def env(self) -> dict[str, str]:
        return {"SOFTHSM2_CONF": str(self.conf)}

    def uri(self, object_label: str = "hostca-ca", **attributes: str) -> str:
        extra = "".join(f";{name}={value}" for name, value in attributes.items())
        return f"pkcs11:token={self.label};object={object_label}{extra}"


def create_token(directory: Path, label: str = "hostca-test") -> SoftHsmToken:
    """Initialize a SoftHSM2 token in ``directory`` with ``USER_PIN`` as its user PIN."""
    util = shutil.which("softhsm2-util")
    if util is None or not SOFTHSM2_MODULE.is_file():
        pytest.fail(
            "the PKCS #11 tests need SoftHSM2; install it (apt-get install softhsm2), "
            "as scripts/test.sh does when it runs as root"
        )
    token_dir = directory / "tokens"
    token_dir.mkdir(parents=True, exist_ok=True)
    conf = directory / "softhsm2.conf"
    conf.write_text(
        f"directories.tokendir = {token_dir}\nobjectstore.backend = file\nlog.level = ERROR\n"
    )
    subprocess.run(
        [util, "--init-token", "--free", "--label", label, "--pin", USER_PIN, "--so-pin", SO_PIN],
        check=True,
        capture_output=True,
        env={**os.environ, "SOFTHSM2_CONF": str(conf)},
    )
    pin_file = directory / "user-pin"
    pin_file.write_text(USER_PIN + "\n")
    pin_file.chmod(0o600)
    return SoftHsmToken(directory=directory, conf=conf, label=label, pin_file=pin_file)


@contextmanager
def token_in_this_process(token: SoftHsmToken) -> Iterator[None]:
    """Point this process's SoftHSM2 library at ``token`` for the duration of the block.

    python-pkcs11 loads a module once per process, and SoftHSM2 reads its
    configuration only in C_Initialize, so the library is initialized again here.
    That ends every session opened before.
    """
    previous = os.environ.get("SOFTHSM2_CONF")
    os.environ["SOFTHSM2_CONF"] = str(token.conf)
    pkcs11.lib(str(SOFTHSM2_MODULE)).reinitialize()
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("SOFTHSM2_CONF", None)
        else:
            os.environ["SOFTHSM2_CONF"] = previous


@contextmanager
def token_session(token: SoftHsmToken) -> Iterator[pkcs11.Session]:
    """Open a logged-in session with ``token`` in this process, to inspect its objects."""
    with token_in_this_process(token):
        library = pkcs11.lib(str(SOFTHSM2_MODULE))
        session = library.get_token(token_label=token.label).open(user_pin=USER_PIN)
        try:
            yield session
        finally:
            session.close()

"""Helpers for end-to-end tests: CSRs made by the openssl command, and curl calls."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

KEY_OPTIONS = {
    "rsa-2048": ["-newkey", "rsa:2048"],
    "ec-p256": ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
    "ed25519": ["-newkey", "ed25519"],
}


def openssl_csr(
    directory: Path, name: str, key_type: str = "ec-p256", aliases: tuple[str, ...] = ()
) -> tuple[Path, Path]:
    """Make a key and a CSR for ``name`` with the openssl command; return (key, csr) paths."""
    key = directory / f"{name}.{key_type}.key.pem"
    csr = directory / f"{name}.{key_type}.csr.pem"
    san = ",".join(f"DNS:{n}" for n in (name, *aliases))
    subprocess.run(
        [
            "openssl",
            "req",
            "-new",
            *KEY_OPTIONS[key_type],
            "-nodes",
            "-keyout",
            str(key),
            "-subj",
            f"/CN={name}",
            "-addext",
            f"subjectAltName={san}",
            "-out",
            str(csr),
        ],
        check=True,
        capture_output=True,
    )
    return key, csr


def curl_json(
    url: str, ca_file: Path, *, body: Any = None, cert: tuple[Path, Path] | None = None
) -> tuple[int, Any]:
    """Call ``url`` with curl; return the HTTP status and the decoded JSON body (or None)."""
    command = ["curl", "-sS", "--cacert", str(ca_file), "-o", "-", "-w", "\n%{http_code}"]
    if cert is not None:
        command += ["--cert", str(cert[0]), "--key", str(cert[1])]
    if body is not None:
        command += ["-H", "content-type: application/json", "--data-binary", json.dumps(body)]
    result = subprocess.run([*command, url], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        return 0, {"curl_exit": result.returncode, "stderr": result.stderr.strip()}
    text, _, status = result.stdout.rpartition("\n")
    return int(status), json.loads(text) if text.strip() else None

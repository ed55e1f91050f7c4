"""The administration console in Debian's Chromium, against a real primary server.

Each test drives the console as an administrator would: with the keyboard and
mouse, through the confirmation dialogs, and reads results back through the
REST API, the agent and the audit log.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
from playwright.sync_api import expect

from conftest import HOSTCA
from e2e_helpers import openssl_csr

if TYPE_CHECKING:
    from console.conftest import Console

HOST_NAME = "web-01.example.test"


def enrol_with_agent(console: Console, state_dir: Path, name: str) -> dict[str, Any]:
    """Trust the CA and enrol ``name`` with the real agent and an authorization token."""
    fingerprint = console.admin("GET", "/api/v1/ca").json()["certificates"][0]["sha256"]
    agent(state_dir, "trust", "--server", console.server.url, "--fingerprint", fingerprint)
    token = console.server.create_token(f"enrol-{name}")
    enrolled = agent(
        state_dir,
        "enroll",
        "--token-env",
        "HOSTCA_TEST_TOKEN",
        "--name",
        name,
        "--json",
        env={"HOSTCA_TEST_TOKEN": token},
    )
    result: dict[str, Any] = json.loads(enrolled.stdout)
    return result


def agent(
    state_dir: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [HOSTCA, "agent", "--state-dir", str(state_dir), *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result


def enrol_with_aliases(
    console: Console, tmp_path: Path, name: str, *aliases: str
) -> dict[str, Any]:
    """Enrol through the REST API with a CSR whose extra names wait for approval."""
    _key, csr = openssl_csr(tmp_path, name, aliases=aliases)
    token = console.server.create_token(f"enrol-{name}")
    with console.server.client() as client:
        answer = client.post("/api/v1/enroll", json={"csr": csr.read_text(), "token": token})
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    return result


def test_login_shows_dashboard_and_every_page_fits(console: Console, tmp_path: Path) -> None:
    enrolled = enrol_with_aliases(console, tmp_path, HOST_NAME, "alias-01.example.test")
    page = console.page

    console.goto("/")
    expect(page).to_have_url(re.compile(r"/console/login\?next=/console/"))
    console.screenshot("login")
    console.login()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    expect(page.locator("ul.cards")).to_contain_text("2 hosts")

    pages = {
        "dashboard": "/",
        "hosts": "/hosts",
        "host": f"/hosts/{enrolled['host_id']}",
        "reissue-token-form": f"/hosts/{enrolled['host_id']}/reissue-token",
        "revoke-form": f"/revoke?host_id={enrolled['host_id']}",
        "mappings": "/mappings",
        "tokens": "/tokens",
        "certificates": "/certificates",
        "certificate": f"/certificates/{enrolled['serial_number']}",
        "certificate-authority": "/ca",
        "audit": "/audit",
        "settings": "/settings",
        "not-found": "/hosts/unknown.example.test",
    }
    for name, path in pages.items():
        console.goto(path)
        console.screenshot(name)
        assert console.fits_width(), f"{path} needs horizontal scrolling at 1,024 pixels"
        # Every form field has a label.
        unlabeled = page.evaluate(
            """() => [...document.querySelectorAll('input:not([type=hidden]), select')]
                 .filter(e => !e.labels || e.labels.length === 0).map(e => e.outerHTML)"""
        )
        assert unlabeled == [], f"{path}: fields without a label: {unlabeled}"
    expect(page.locator("p.form-error")).to_contain_text(
        "unknown.example.test: no host has this name"
    )


def test_reissue_token_from_host_page_is_copied_and_used_by_agent(
    console: Console, tmp_path: Path
) -> None:
    state_dir = tmp_path / "agent"
    first = enrol_with_agent(console, state_dir, HOST_NAME)
    page = console.page
    console.login()

    # Find the host by search, open it, and generate a reissue token.
    console.nav("Hosts")
    page.get_by_label("Name or host ID starts with").fill("web-01")
    page.get_by_role("button", name="Search").click()
    page.get_by_role("link", name=HOST_NAME).click()
    expect(page.get_by_role("heading", name=f"Host {HOST_NAME}")).to_be_visible()
    page.get_by_role("link", name="Generate reissue token").click()
    expect(page.get_by_text("Valid until (America/New_York)")).to_be_visible()

    # The browser shows New York time; the server stores the same instant in UTC.
    until_local = datetime.now(UTC).astimezone() + timedelta(days=3)
    new_york = page.evaluate(
        """(iso) => new Date(iso).toLocaleString('sv-SE', {timeZone: 'America/New_York'})""",
        until_local.isoformat(),
    )
    page.get_by_label("Valid until").fill(new_york[:16].replace(" ", "T"))
    page.get_by_label("Reason").fill("lost key after disk failure")
    page.get_by_role("button", name="Create reissue token").click()
    console.confirm()
    expect(page.get_by_role("heading", name=re.compile("Token .* created"))).to_be_visible()
    console.screenshot("token-created")

    page.get_by_role("button", name="Copy").click()
    expect(page.locator("#live")).to_have_text("Copied to the clipboard.")
    value = page.evaluate("navigator.clipboard.readText()")
    assert value == page.locator("#token-value").inner_text().strip()

    tokens = console.admin("GET", "/api/v1/tokens").json()
    reissue = next(t for t in tokens if t["kind"] == "reissue")
    assert reissue["host_id"] == first["host_id"]
    assert reissue["reason"] == "lost key after disk failure"
    stored_until = datetime.fromisoformat(reissue["valid_until"].replace("Z", "+00:00"))
    assert abs(stored_until - until_local.replace(second=0, microsecond=0)) < timedelta(minutes=1)

    # The agent reissues the host's certificate with the copied value, as the token
    # page says: without --name, under the primary name it enrolled with.
    reissued = agent(
        state_dir,
        "enroll",
        "--force",
        "--token-env",
        "HOSTCA_TEST_TOKEN",
        "--json",
        env={"HOSTCA_TEST_TOKEN": value},
    )
    second = json.loads(reissued.stdout)
    assert second["host_id"] == first["host_id"]
    assert second["serial_number"] != first["serial_number"]
    assert second["names"][0] == HOST_NAME

    # The host's timeline shows the token, both issuances and the actors.
    console.goto(f"/hosts/{first['host_id']}")
    timeline = page.locator("section", has=page.get_by_role("heading", name="Audit timeline"))
    expect(timeline).to_contain_text("TOKEN create")
    expect(timeline).to_contain_text("admin")
    expect(timeline).to_contain_text("127.0.0.1")
    console.screenshot("host-after-reissue")


def test_revoke_certificate_with_reason(console: Console, tmp_path: Path) -> None:
    enrolled = enrol_with_aliases(console, tmp_path, HOST_NAME)
    serial = enrolled["serial_number"]
    page = console.page
    console.login()

    console.nav("Certificates")
    page.get_by_role("link", name=f"Revoke {serial}").click()
    page.get_by_label("Reason code").select_option("key-compromise")
    page.get_by_label("Reason", exact=True).fill("key copied to a shared drive")
    page.get_by_role("button", name="Revoke").click()
    console.confirm()
    expect(page.locator("p.flash")).to_contain_text(f"Revoked 1 certificate(s): {serial}")

    console.goto("/certificates?status=revoked")
    console.screenshot("certificates-revoked")
    expect(page.locator("table.list")).to_contain_text(serial[:16])
    console.goto("/audit?category=CERT")
    console.screenshot("audit-revoke")
    row = page.locator("table.list tbody tr", has_text="revoke").first
    expect(row).to_contain_text("admin")
    expect(row).to_contain_text("key copied to a shared drive")

    shown = console.admin("GET", f"/api/v1/certificates/{serial}").json()
    assert shown["status"] == "revoked"
    assert shown["revocation_reason"] == "key-compromise"


def test_approve_pending_mapping(console: Console, tmp_path: Path) -> None:
    enrolled = enrol_with_aliases(console, tmp_path, HOST_NAME, "backup-01.example.test")
    page = console.page
    console.login()

    console.nav("Mappings")
    console.screenshot("mappings-pending")
    page.get_by_role("button", name="Approve backup-01.example.test").click()
    console.confirm()
    expect(page.locator("p.flash")).to_contain_text("Approved the mapping backup-01.example.test")
    expect(page.get_by_text("No mapping waits for approval.")).to_be_visible()

    host = console.admin("GET", f"/api/v1/hosts/{enrolled['host_id']}").json()
    assert {"name": "backup-01.example.test", "state": "approved"}.items() <= next(
        m for m in host["mappings"] if m["name"] == "backup-01.example.test"
    ).items()


def test_change_security_level(console: Console) -> None:
    page = console.page
    console.login()
    console.nav("Security settings")
    page.get_by_label("security-level").select_option("medium")
    page.get_by_role("button", name="Save security-level").click()
    console.confirm()
    expect(page.locator("p.flash")).to_contain_text("Set security-level to medium")
    assert console.admin("GET", "/api/v1/settings").json()["security_level"] == "medium"

    # A bad value is refused next to its field, in the CLI's words.
    page.get_by_label("certificate-lifetime-days").fill("9999")
    page.get_by_role("button", name="Save certificate-lifetime-days").click()
    console.confirm()
    expect(page.locator("#setting-certificate_lifetime_days-error")).to_have_text(
        "9999: certificate-lifetime-days must be a whole number from 1 to 825."
    )
    console.screenshot("settings-error")


def test_auditor_sees_but_cannot_act(console: Console, tmp_path: Path) -> None:
    enrolled = enrol_with_aliases(console, tmp_path, HOST_NAME, "alias-02.example.test")
    created = console.admin(
        "POST",
        "/api/v1/users",
        json={"name": "audrey", "role": "auditor", "password": "auditor-password-1"},
    )
    assert created.status_code == 201, created.text
    page = console.page
    console.login("audrey", "auditor-password-1")

    console.goto(f"/hosts/{enrolled['host_id']}")
    console.screenshot("auditor-host")
    for label in ("Generate reissue token", "Revoke certificates", "Reset host", "Add mapping"):
        expect(page.get_by_text(label, exact=True)).to_have_count(0)
    console.goto("/mappings")
    expect(page.get_by_role("button", name=re.compile("Approve"))).to_have_count(0)
    console.goto("/audit")
    expect(page.get_by_role("heading", name="Audit events")).to_be_visible()

    # A forged form with the auditor's own valid CSRF token is still refused and audited.
    csrf = page.locator("form.logout input[name=csrf_token]").get_attribute("value")
    answer = page.request.post(
        console.url + "/revoke",
        form={
            "csrf_token": csrf or "",
            "host_id": enrolled["host_id"],
            "reason_code": "unspecified",
        },
        headers={"Origin": console.server.url},
    )
    assert answer.status == 403
    assert "audrey has the role auditor" in answer.text()
    events = console.admin("GET", "/api/v1/audit?category=SEC_CONFIG").json()
    assert any(e["actor"] == "audrey" and e["error_code"] == "forbidden" for e in events)
    assert (
        console.admin("GET", f"/api/v1/hosts/{enrolled['host_id']}").json()["certificates"][0][
            "status"
        ]
        == "valid"
    )


def test_form_without_csrf_token_is_rejected(console: Console) -> None:
    page = console.page
    console.login()
    console.goto("/tokens")

    missing = page.request.post(
        console.url + "/tokens",
        form={"name": "forged-token"},
        headers={"Origin": console.server.url},
    )
    wrong = page.request.post(
        console.url + "/tokens",
        form={"name": "forged-token", "csrf_token": "0" * 64},
        headers={"Origin": console.server.url},
    )
    other_origin = page.request.post(
        console.url + "/tokens",
        form={
            "name": "forged-token",
            "csrf_token": page.locator("form.logout input[name=csrf_token]").get_attribute("value")
            or "",
        },
        headers={"Origin": "https://attacker.example"},
    )
    for answer in (missing, wrong, other_origin):
        assert answer.status == 403, answer.text()
    assert "no valid CSRF token" in missing.text()
    assert "another origin" in other_origin.text()
    assert all(t["name"] != "forged-token" for t in console.admin("GET", "/api/v1/tokens").json())
    events = console.admin("GET", "/api/v1/audit?category=SEC_CONFIG").json()
    assert sum(e["error_code"] == "csrf_invalid" for e in events) == 3


def test_token_create_and_delete_by_keyboard(console: Console) -> None:
    page = console.page
    console.login()
    console.goto("/tokens")

    # Errors appear next to their field, in the same words as the CLI.
    page.get_by_label("Token name").fill("batch-7")
    page.get_by_label("Valid for").fill("forever")
    page.get_by_label("Valid for").press("Enter")
    console.confirm()
    expect(page.locator("#valid_for-error")).to_contain_text("forever")
    console.screenshot("token-form-error")

    page.get_by_label("Valid for").fill("4h")
    page.get_by_label("Maximum uses").fill("5")
    page.get_by_label("Reason").focus()
    page.keyboard.type("new rack")
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")  # from Cancel to Confirm in the dialog
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Token batch-7 created")).to_be_visible()
    value = page.locator("#token-value").inner_text().strip()
    assert len(value) >= 16

    console.goto("/tokens")
    expect(page.locator("table.list")).not_to_contain_text(value)
    page.get_by_role("button", name="Delete batch-7").click()
    console.confirm()
    expect(page.locator("p.flash")).to_contain_text("Deleted the token batch-7")
    shown = console.admin("GET", "/api/v1/tokens/batch-7")
    assert shown.status_code == 404 or shown.json()["state"] == "deleted"


def test_logout_ends_the_session(console: Console) -> None:
    page = console.page
    console.login()
    cookie = next(c for c in console.context.cookies() if c["name"] == "__Host-hostca-session")
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_text("You have logged out.")).to_be_visible()

    # The old cookie value no longer opens the console.
    with httpx.Client(verify=False, follow_redirects=False) as client:  # noqa: S501 - loopback test server
        answer = client.get(
            console.url + "/", headers={"Cookie": f"__Host-hostca-session={cookie['value']}"}
        )
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/console/login")

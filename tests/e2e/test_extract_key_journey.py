"""An org admin has token extracts encrypted to their own age key, in a real browser (issue #17):
a secret key pasted by mistake is refused, the public key is set, an extract is written encrypted,
the download page says how to decrypt it, and the downloaded file decrypts to the vault's rows."""

import csv
import gzip
import io
import re
from collections.abc import Iterator
from pathlib import Path

import pyrage
import pytest
from django.db import connections
from playwright.sync_api import Page, expect
from pyrage import x25519

from accounts.models import Organisation
from audit.models import AuditEvent
from extracts.models import ExtractKey, ExtractRequest, Status
from extracts.vault import VAULT, add_demo_tokens, create_vault_table, demo_token
from tests.e2e.journeys import log_in
from tests.factories import AdminFactory, OrganisationFactory

TOKENS = 120


@pytest.fixture
def vault_table() -> Iterator[None]:
    create_vault_table()
    yield
    with connections[VAULT].cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS vault_tokens")


@pytest.mark.browser
@pytest.mark.django_db(transaction=True, databases=["default", "vault"])
def test_admin_sets_a_key_takes_an_encrypted_extract_decrypts_it_and_removes_the_key(
    live_server, transactional_db, vault_table, page: Page, console_messages, mailoutbox
):
    organisation: Organisation = OrganisationFactory.create(name="Acme Payments Ltd")
    owner = AdminFactory.create(organisation=organisation, email="olivia@acme.example", full_name="Olivia Owner")
    add_demo_tokens(organisation.public_id, start=0, count=TOKENS)
    identity = x25519.Identity.generate()  # made on Olivia's own computer: `age-keygen -o your-key.txt`
    public = str(identity.to_public())

    log_in(page, live_server.url, owner)
    page.goto(f"{live_server.url}/extracts/")
    encryption = page.locator("#extract-encryption")
    expect(encryption).to_contain_text("Not encrypted.")
    encryption.get_by_role("link", name="Encrypt extracts to your own key").click()
    expect(page.get_by_role("heading", name="Extract encryption key")).to_be_visible()
    expect(page.get_by_text("Not encrypted: plain gzip CSV files")).to_be_visible()

    # The whole key file pasted by mistake: refused, and the secret is not shown back.
    page.get_by_label("age public key").fill(f"# created: 2026-12-03T10:00:00Z\n# public key: {public}\n{identity}\n")
    page.get_by_role("button", name="Encrypt extracts to this key").click()
    expect(page.get_by_text(re.compile(r"This is a secret key \(AGE-SECRET-KEY-…\): it was not saved"))).to_be_visible()
    expect(page.get_by_label("age public key")).to_have_value("")
    assert str(identity) not in page.content()
    assert not ExtractKey.objects.exists()

    # The public key: set, and every admin is told.
    page.get_by_label("age public key").fill(public)
    page.get_by_role("button", name="Encrypt extracts to this key").click()
    expect(page.get_by_role("status").filter(has_text=f"Extracts are encrypted to {public[:8]}…")).to_be_visible()
    expect(page.locator("#extract-key")).to_contain_text(public)
    assert [m.subject for m in mailoutbox] == ["Token extract encryption key set (Acme Payments Ltd)"]

    # The extracts page says so; an extract is requested and written encrypted.
    page.get_by_role("link", name="← Token extracts").click()
    expect(encryption).to_contain_text(f"Encrypted to your age key {public[:8]}…{public[-6:]}")
    page.get_by_role("button", name="Request an extract").click()
    expect(
        page.get_by_role("status").filter(has_text=re.compile(rf"{TOKENS} tokens in token-extract-.*\.csv\.gz\.age"))
    ).to_be_visible()
    extract = ExtractRequest.objects.get(organisation=organisation)
    assert extract.status == Status.DONE and extract.encrypted_to == public
    assert extract.file is not None
    name = extract.file.name
    row = page.get_by_role("table", name=re.compile("Recent token extracts")).locator("tbody tr")
    expect(row.get_by_role("cell").nth(5)).to_contain_text(f"encrypted to {public[:8]}…")

    # The File Manager: the extract's page says how to decrypt it, and the download is age ciphertext.
    page.get_by_role("link", name="Open the extract files").click()
    page.get_by_role("link", name=name, exact=True).click()
    expect(page.get_by_role("heading", name="Decrypting it")).to_be_visible()
    expect(page.locator("#decrypt code.command")).to_have_text(
        f"age -d -i your-key.txt {name} > {name.removesuffix('.age')}"
    )
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download").click()
    download = download_info.value
    assert download.suggested_filename == name
    data = Path(download.path()).read_bytes()
    assert data.startswith(b"age-encryption.org/v1\n")
    text = gzip.decompress(pyrage.decrypt(data, [identity])).decode()
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert rows[0] == ["token", "created_at"]
    assert [r[0] for r in rows[1:]] == [demo_token(organisation.public_id, n) for n in range(TOKENS)]

    # The key is removed again (asked first): extracts are plain from now on.
    page.goto(f"{live_server.url}/extracts/")
    encryption.get_by_role("link", name="Change or remove the key").click()
    page.get_by_role("link", name="Remove the key").click()
    expect(page.get_by_role("heading", name="Remove the extract encryption key?")).to_be_visible()
    page.get_by_role("button", name="Remove the key").click()
    expect(page.get_by_role("status").filter(has_text="The key is removed")).to_be_visible()
    expect(page.get_by_text("Not encrypted: plain gzip CSV files")).to_be_visible()
    assert not ExtractKey.objects.exists()

    actions = list(
        AuditEvent.objects.filter(organisation=organisation, action__startswith="extract.key")
        .order_by("pk")
        .values_list("action", flat=True)
    )
    assert actions == ["extract.key_set", "extract.key_removed"]
    assert [m for m in console_messages if m.startswith("pageerror:")] == []
    assert [m for m in console_messages if re.search(r"content.security.policy", m, re.IGNORECASE)] == []

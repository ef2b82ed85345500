"""Running a token extract (SPEC §6): the Celery task's work, apart from requesting and scheduling
(extracts/services.py).

The task streams the organisation's tokens from the vault (extracts.vault) through gzip into a
temporary file, hashing and counting as it goes, then hands the file to the File Manager. Memory
holds one chunk of rows at a time (on PostgreSQL, CSV bytes straight from COPY). Nothing reaches
the File Manager until the whole file is written; if anything fails, the extract is marked failed
and whatever was stored is removed.

When the organisation has set a public key (extracts.models.ExtractKey), the gzip output is
encrypted to it with age as it streams (extracts/encryption.py): the temporary file and the
stored object hold ciphertext only, named ``….csv.gz.age``, and the SHA-256 is the ciphertext's.
"""

import csv
import gzip
import hashlib
import io
import logging
import tempfile
from collections import deque
from collections.abc import Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack, closing
from datetime import datetime
from typing import IO, Any

from django.conf import settings
from django.core.files import File
from django.db import transaction
from django.db.models import Q
from django.template.defaultfilters import filesizeformat
from django.utils import timezone
from django.utils.text import slugify

from accounts.models import Organisation
from audit.services import record
from extracts import encryption, locks, services, vault
from extracts.models import ExtractKey, ExtractRequest, Status
from extracts.services import LOST_TOO_OFTEN, MAX_ATTEMPTS, STALE_AFTER
from files.models import Section, StoredFile
from files.services import store_file

logger = logging.getLogger(__name__)

CONTENT_TYPE = "application/gzip"
# zlib's default: gzip -6, the level a benchmark's `COPY … | gzip` uses.
COMPRESS_LEVEL = 6
# Chunks read but not yet compressed, at most: a few hundred KB each.
PENDING_CHUNKS = 4


class _Digesting:
    """A write-only file that hashes and counts the bytes it passes on to ``target``."""

    def __init__(self, target: IO[bytes]) -> None:
        self.target = target
        self.sha256 = hashlib.sha256()
        self.size = 0

    def write(self, data: Any) -> int:
        self.sha256.update(data)
        self.size += len(data)
        return self.target.write(data)

    def flush(self) -> None:
        self.target.flush()


def extract_file_name(organisation: Organisation, at: datetime, *, encrypted: bool = False) -> str:
    slug = slugify(organisation.name)[:60].strip("-") or organisation.public_id
    name = f"token-extract-{slug}-{timezone.localtime(at):%Y%m%d-%H%M}.csv.gz"
    return name + encryption.SUFFIX if encrypted else name


def _recipient_of(organisation: Organisation) -> str:
    """The organisation's extract key as the extract starts; a change during the run waits for the next one."""
    return ExtractKey.objects.filter(organisation=organisation).values_list("recipient", flat=True).first() or ""


def _report_progress(extract_id: int, rows: int, total: int | None) -> None:
    """Its own UPDATE, committed at once, so the page shows it while the extract runs."""
    progress = min(99, rows * 100 // total) if total else 0
    ExtractRequest.objects.filter(pk=extract_id).update(
        rows_written=rows, progress=progress, heartbeat_at=timezone.now()
    )


def _csv_bytes(rows: Iterable[Sequence[str]]) -> bytes:
    text = io.StringIO(newline="")
    csv.writer(text).writerows(rows)
    return text.getvalue().encode()


def _write_block(compressed: gzip.GzipFile, block: vault.CsvBlock) -> int:
    return compressed.write(block.csv_bytes())


def _write_gzip_csv(
    extract: ExtractRequest, spool: IO[bytes], total: int, *, recipient: str = ""
) -> tuple[int, int, str]:
    """Rows written, size and SHA-256 of the gzip CSV written to ``spool`` (encrypted to
    ``recipient`` when one is given: then size and SHA-256 are the ciphertext's).

    This thread reads the vault and reports progress; a second one compresses and hashes the
    chunks in order (zlib and hashlib release the GIL, so both cores work), never more than
    PENDING_CHUNKS behind: memory stays flat. With a recipient, a third thread encrypts the gzip
    output as it comes (encryption.encrypting, a bounded pipe). A failure anywhere fails the extract.
    """
    digesting = _Digesting(spool)
    with ExitStack() as stack:
        sink = stack.enter_context(encryption.encrypting(digesting, recipient=recipient)) if recipient else digesting
        rows = _compress_chunks(extract, sink, total)
    return rows, digesting.size, digesting.sha256.hexdigest()


def _compress_chunks(extract: ExtractRequest, sink: _Digesting | encryption.Pipe, total: int) -> int:
    """Read the vault into gzip writing to ``sink``; returns the rows written."""
    rows = 0
    pending: deque[Future[int]] = deque()
    with (
        gzip.GzipFile(fileobj=sink, mode="wb", compresslevel=COMPRESS_LEVEL) as compressed,
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="extract-gzip") as compressor,
        closing(vault.iter_token_chunks(extract.organisation.public_id)) as chunks,
    ):
        pending.append(compressor.submit(compressed.write, _csv_bytes([vault.CSV_HEADER])))
        for chunk in chunks:
            if isinstance(chunk, vault.CsvBlock):  # PostgreSQL's COPY wrote the CSV already
                pending.append(compressor.submit(_write_block, compressed, chunk))
            else:
                pending.append(compressor.submit(compressed.write, _csv_bytes(chunk)))
            rows += len(chunk)
            _report_progress(extract.pk, rows, total)
            while len(pending) > PENDING_CHUNKS:
                pending.popleft().result()  # re-raises the compressing thread's failure
        while pending:
            pending.popleft().result()
    return rows


def run_extract(*, extract_id: int) -> str:
    """Write the extract's file and record how it went; returns the extract's status.

    Safe to deliver twice (Celery redelivers a task whose worker was lost: acks_late,
    reject_on_worker_lost). The delivery that holds the extract's run lock (extracts/locks.py)
    starts a queued extract, or takes over a running one whose worker is gone and writes it
    again from the start; one that finds the lock held by a live worker leaves the extract to
    it. Either way exactly one file is stored.
    """
    with locks.run_lock(extract_id) as held:
        if held is False:
            logger.info("Token extract %s is being written by another worker", extract_id)
            return _status_of(extract_id)
        extract = _claim(extract_id, lock_held=held is True)
        if extract is None:
            status = _status_of(extract_id)
            logger.info("Token extract %s not started: it is %s", extract_id, status)
            return status
        return _write(extract)


def _status_of(extract_id: int) -> str:
    return ExtractRequest.objects.filter(pk=extract_id).values_list("status", flat=True).first() or "missing"


def _claim(extract_id: int, *, lock_held: bool) -> ExtractRequest | None:
    """Mark the extract running for this attempt; a running one (its worker lost) starts again from zero.

    With the run lock, a running extract is a lost one (its worker would hold the lock); without
    advisory locks (SQLite) only one whose heartbeat stopped STALE_AFTER ago is taken for lost.
    """
    lost_run = Q(status=Status.RUNNING)
    if not lock_held:
        lost_run &= Q(heartbeat_at__lt=timezone.now() - STALE_AFTER)
    with transaction.atomic():
        extract = (
            ExtractRequest.objects.select_for_update(of=("self",))
            .select_related("organisation", "requested_by")
            .filter(Q(status=Status.QUEUED) | lost_run, pk=extract_id)
            .first()
        )
        if extract is None:
            return None
        lost = extract.status == Status.RUNNING
        if lost and extract.attempts >= MAX_ATTEMPTS:
            services.mark_failed(extract_id, reason=LOST_TOO_OFTEN)
            return None
        now = timezone.now()
        extract.status = Status.RUNNING
        extract.attempts += 1
        extract.started_at = now
        extract.heartbeat_at = now
        extract.rows_written = 0
        extract.progress = 0
        extract.save(update_fields=["status", "attempts", "started_at", "heartbeat_at", "rows_written", "progress"])
        if lost:
            record(
                action="extract.restarted",
                actor=None,
                organisation=extract.organisation,
                target=f"Token extract #{extract.pk}",
                extract=extract.pk,
                attempt=extract.attempts,
            )
    return extract


def _write(extract: ExtractRequest) -> str:
    extract_id = extract.pk
    now = extract.started_at or timezone.now()
    organisation = extract.organisation
    stage = "counting the tokens in the vault"
    stored: StoredFile | None = None
    try:
        total = vault.count_tokens(organisation.public_id)
        recipient = _recipient_of(organisation)
        extract.encrypted_to = recipient
        ExtractRequest.objects.filter(pk=extract_id).update(rows_total=total, encrypted_to=recipient)
        stage = "reading the vault"
        with tempfile.TemporaryFile() as spool:  # no name on disk: nothing to leave behind if the worker dies
            rows, size, sha256 = _write_gzip_csv(extract, spool, total, recipient=recipient)
            spool.seek(0)
            stage = "storing the file"
            name = extract_file_name(organisation, now, encrypted=bool(recipient))
            with transaction.atomic():
                stored = store_file(
                    organisation=organisation,
                    section=Section.EXTRACTS,
                    name=name,
                    content=File(spool, name=name),
                    size=size,
                    sha256=sha256,
                    content_type=encryption.CONTENT_TYPE if recipient else CONTENT_TYPE,
                    uploaded_by=extract.requested_by,
                )
                _finish(extract, stored=stored, rows=rows)
    except Exception as exc:
        logger.exception("Token extract %s failed while %s", extract_id, stage)
        if stored is not None:
            _discard(stored)
        services.mark_failed(
            extract_id,
            reason=f"Failed while {stage} ({type(exc).__name__}). Nothing was kept; request a new extract, "
            "or write to support if it fails again.",
        )
        return Status.FAILED
    return Status.DONE


def _finish(extract: ExtractRequest, *, stored: StoredFile, rows: int) -> None:
    now = timezone.now()
    done = ExtractRequest.objects.filter(pk=extract.pk, status=Status.RUNNING).update(
        status=Status.DONE,
        file=stored,
        rows_written=rows,
        rows_total=rows,
        progress=100,
        heartbeat_at=now,
        finished_at=now,
    )
    if not done:  # given up as lost meanwhile: its failure stands
        raise RuntimeError(f"Token extract {extract.pk} is no longer running")
    organisation = extract.organisation
    record(
        action="extract.done",
        actor=None,
        organisation=organisation,
        target=stored.name,
        extract=extract.pk,
        rows=rows,
        size=stored.size,
        sha256=stored.sha256,
        encrypted_to=extract.encrypted_to,
    )
    services.email_admins(
        organisation,
        subject="Your token extract is ready",
        template="extracts/email/ready",
        context={
            "file": stored,
            "rows": rows,
            "size": filesizeformat(stored.size),
            "extract": extract,
            "retention_days": settings.EXTRACT_RETENTION_DAYS,
            "encrypted_to": extract.encrypted_to,
            "decrypt_command": encryption.decrypt_command(stored.name) if extract.encrypted_to else "",
        },
    )


def _discard(stored: StoredFile) -> None:
    """Remove a file whose extract did not finish: its row (if it was ever committed) and its object."""
    try:
        StoredFile.objects.filter(pk=stored.pk).delete()
        stored.file.delete(save=False)
    except Exception:
        logger.exception("Could not remove the stored file %s of a failed extract", stored.file.name)

"""Token extracts encrypted to the organisation's own public key (issue #17), with age.

Why age (https://age-encryption.org/v1), through pyrage (Python bindings of the Rust ``age``
crate), rather than OpenPGP: a key is one short line (``age1…``, 62 characters) that an admin
pastes without armour or key servers; there is one recipient format, so there is nothing to get
wrong about algorithms; keys have no expiry dates, sub-keys or web of trust that could make an
extract unreadable or silently encrypted to the wrong sub-key; and the decrypting side is one
standard command, ``age -d -i key.txt file.age`` (or ``rage``), available on every platform.

Streaming: ``pyrage.encrypt_io(reader, writer, recipients)`` is the library's streaming API (the
Rust side copies reader to writer through age's STREAM construction, 64 KiB chunks). The runner
*pushes* gzip output, so ``encrypting`` runs ``encrypt_io`` in its own thread, reading from a
small bounded pipe the runner writes into: plaintext never touches the disk and memory holds at
most PIPE_BYTES of it, however large the extract.
"""

import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any

import pyrage
from django.core.exceptions import ValidationError
from pyrage import x25519

# Plaintext (gzip output) waiting for the encrypting thread, at most: a few gzip writes.
PIPE_BYTES = 1024 * 1024
# What an extract's file name gets when it is encrypted, and what it is stored as.
SUFFIX = ".age"  # files.models.AGE_SUFFIX says the same, for the File Manager's pages
CONTENT_TYPE = "application/octet-stream"

RECIPIENT_PREFIX = "age1"
SECRET_PREFIX = "AGE-SECRET-KEY-"
SECRET_KEY_CODE = "secret_key"
KEY_REQUIRED = "Paste your age public key: one line starting with “age1”."
SECRET_PASTED = (
    "This is a secret key (AGE-SECRET-KEY-…): it was not saved, and it must never leave your computer. "
    "Paste the public key instead, the line starting with “age1” that `age-keygen -y your-key.txt` prints. "
    "If you pasted the secret key anywhere else, make a new key pair."
)
NOT_A_RECIPIENT = (
    "This is not an age public key. Paste the line starting with “age1” (62 characters) that "
    "`age-keygen` prints as “Public key”, or `age-keygen -y your-key.txt` prints."
)
OTHER_FORMATS = (
    "Only age X25519 public keys (“age1…”) are accepted: not SSH, OpenPGP or post-quantum keys. "
    "Make one with `age-keygen -o your-key.txt`."
)


def clean_recipient(raw: str) -> str:
    """The age X25519 recipient in ``raw`` (surrounding space and a ``# comment`` line allowed),
    or a ValidationError saying what is wrong. A pasted secret key is refused without echoing it."""
    lines = [line.strip() for line in (raw or "").splitlines()]
    lines = [line for line in lines if line and not line.startswith("#")]
    if not lines:
        raise ValidationError(KEY_REQUIRED, code="required")
    if any(line.upper().startswith(SECRET_PREFIX) for line in lines):
        raise ValidationError(SECRET_PASTED, code=SECRET_KEY_CODE)
    if len(lines) > 1:
        raise ValidationError("Paste one public key only: extracts are encrypted to a single key.", code="several_keys")
    candidate = lines[0]
    if not candidate.lower().startswith(RECIPIENT_PREFIX) or candidate.lower().startswith("age1pq"):
        raise ValidationError(OTHER_FORMATS, code="other_format")
    try:
        parsed = x25519.Recipient.from_str(candidate)
    except pyrage.RecipientError:
        raise ValidationError(NOT_A_RECIPIENT, code="invalid") from None
    return str(parsed)


def short_form(recipient: str) -> str:
    """How pages name a key in passing: its first and last characters (``age1qyqs…x7k2``)."""
    return f"{recipient[:8]}…{recipient[-6:]}" if len(recipient) > 16 else recipient


def decrypt_command(name: str) -> str:
    """The command that turns the downloaded ``name`` back into the gzip CSV."""
    plain = name.removesuffix(SUFFIX)
    return f"age -d -i your-key.txt {name} > {plain}"


class Pipe:
    """Bytes written by one thread, read by another; writers wait while PIPE_BYTES are unread."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._chunks: deque[memoryview] = deque()
        self._size = 0
        self._closed = False
        self._broken = False
        self._ready = threading.Condition()

    def write(self, data: Any) -> int:
        view = memoryview(bytes(data))
        if not view:
            return 0  # gzip writes empty blocks; read() returning b"" would mean the end
        with self._ready:
            while self._size >= self._limit and not self._broken:
                self._ready.wait()
            if self._broken:
                raise BrokenPipeError("the encrypting thread stopped")
            self._chunks.append(view)
            self._size += len(view)
            self._ready.notify_all()
        return len(view)

    def flush(self) -> None:
        pass

    def read(self, size: int = -1) -> bytes:
        with self._ready:
            while not self._chunks and not self._closed and not self._broken:
                self._ready.wait()
            if self._broken:
                raise BrokenPipeError("the extract stopped")
            if not self._chunks:
                return b""  # closed and drained: the end of the plaintext
            first = self._chunks[0]
            if 0 <= size < len(first):
                taken, self._chunks[0] = first[:size], first[size:]
            else:
                taken = self._chunks.popleft()
            self._size -= len(taken)
            self._ready.notify_all()
            return bytes(taken)

    def close(self) -> None:
        with self._ready:
            self._closed = True
            self._ready.notify_all()

    def break_(self) -> None:
        with self._ready:
            self._broken = True
            self._chunks.clear()
            self._ready.notify_all()


class _Sink:
    """Passes ciphertext on to ``target``, remembering a failure: pyrage flushes its last buffer
    when it is dropped, where an error would otherwise go unnoticed (a truncated file)."""

    def __init__(self, target: IO[bytes] | Any) -> None:
        self.target = target
        self.error: BaseException | None = None

    def write(self, data: Any) -> int:
        try:
            return int(self.target.write(data))
        except BaseException as exc:
            self.error = self.error or exc
            raise

    def flush(self) -> None:
        try:
            self.target.flush()
        except BaseException as exc:
            self.error = self.error or exc
            raise


@contextmanager
def encrypting(target: IO[bytes] | Any, *, recipient: str) -> Iterator[Pipe]:
    """A writable file whose bytes reach ``target`` encrypted to ``recipient`` as they come.

    Leaving the block without an exception finishes the age file (its last chunk and tag) and
    re-raises anything that went wrong on the encrypting side; leaving it with one abandons it.
    """
    parsed = x25519.Recipient.from_str(recipient)
    pipe = Pipe(PIPE_BYTES)
    sink = _Sink(target)
    failure: list[BaseException] = []

    def encrypt() -> None:
        try:
            pyrage.encrypt_io(pipe, sink, [parsed])
        except BaseException as exc:
            failure.append(exc)
            pipe.break_()  # a writer waiting for room gets BrokenPipeError instead of waiting forever

    worker = threading.Thread(target=encrypt, name="extract-age", daemon=True)
    worker.start()
    try:
        yield pipe
    except BaseException as exc:
        pipe.break_()
        worker.join()
        if isinstance(exc, BrokenPipeError) and failure:
            raise failure[0] from None  # the encrypting side's own reason, not the pipe it broke
        raise
    pipe.close()
    worker.join()
    if sink.error is not None:
        raise sink.error
    if failure:
        raise failure[0]

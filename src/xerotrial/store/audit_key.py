"""The audit key: a secret kept outside the store that makes the audit chain keyed.

A key is 32 random bytes, written as 64 hex digits in a file of its own (mode 0600) by
:func:`write_key` (``xerotrial audit keygen --out FILE``). ``XEROTRIAL_AUDIT_KEY_FILE`` names
that file for every command; the store never holds the key, only its id (:func:`key_id`, the
first 16 hex digits of a domain-separated SHA-256), so that a wrong key is told apart from a
forged MAC. With the key each audit entry carries ``mac`` = HMAC-SHA256(key, entry hash) and
the stored tip carries the MAC of ``"seq:hash"``: whoever can write the database but has not
the key file cannot append, rewrite or cut entries without the MACs failing.

Example
-------
>>> key = bytes(32)
>>> key_id(key)
'd37bef615cc92be5'
>>> len(mac(key, "0" * 64)), mac(key, "x") == mac(key, "x")
(64, True)
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

from .errors import StoreError

__all__ = ["KEY_ENV", "key_id", "load_key", "mac", "read_key", "write_key"]

#: The environment variable naming the key file.
KEY_ENV = "XEROTRIAL_AUDIT_KEY_FILE"
_ID_DOMAIN = b"xerotrial audit key id\x00"


def key_id(key: bytes) -> str:
    """The key's public id: 16 hex digits of SHA-256 over a domain tag and the key."""
    return hashlib.sha256(_ID_DOMAIN + key).hexdigest()[:16]


def mac(key: bytes, message: str) -> str:
    """HMAC-SHA256 (hex) of ``message`` (an entry hash, or a tip ``"seq:hash"``)."""
    return hmac.new(key, message.encode(), hashlib.sha256).hexdigest()


def read_key(path: str | Path) -> bytes:
    """The key in ``path`` (64 hex digits); :class:`StoreError` when it is not one.

    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "audit.key")
    >>> write_key(p) == read_key(p)
    True
    """
    try:
        text = Path(path).read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise StoreError(f"cannot read the audit key file {path}: {exc}") from None
    try:
        key = bytes.fromhex(text)
    except ValueError:
        key = b""
    if len(key) != 32:
        raise StoreError(f"{path} is not an audit key (64 hex digits; make one with keygen)")
    return key


def load_key() -> bytes | None:
    """The key of ``$XEROTRIAL_AUDIT_KEY_FILE``, or None when the variable is unset."""
    path = os.environ.get(KEY_ENV)
    return read_key(path) if path else None


def write_key(path: str | Path) -> bytes:
    """Write a new random key to ``path`` (mode 0600; refused if the file exists)."""
    key = secrets.token_bytes(32)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise StoreError(f"{path} exists: an audit key is never overwritten") from None
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(key.hex() + "\n")
    return key

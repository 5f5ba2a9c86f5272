"""The audit chain's format: canonical JSON, the entry hash, the audited store_meta values.

Shared by the writer (:mod:`.audit`), the check (:mod:`.verify`) and the migrations that
write audit entries, which import these names and never change them.

Example
-------
>>> canonical({"b": 1, "a": [1.5, None]})
'{"a":[1.5,null],"b":1}'
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from typing import Any

__all__ = [
    "AUDITED_META",
    "GENESIS",
    "KEY_ID_ROW",
    "canonical",
    "entry_hash",
    "jsonable",
    "meta_values",
]

#: ``prev_hash`` of the first entry.
GENESIS = "0" * 64
#: The ``store_meta`` keys whose every value is an audit entry (replayed by ``verify``), and
#: what each is: a seed store's protocol, the audit key's id, a study store's kind and its
#: study definition (every version of it, amendments included).
AUDITED_META: dict[str, str] = {
    "protocol_toml": "the store's protocol",
    "audit_key_id": "the store's audit key id",
    "layout": "the store's kind",
    "study_definition": "the store's study definition",
    "study_diff": "the store's last amendment",
    "lock": "the store's lock (database lock before analysis)",
}
_HASHED = (
    "seq",
    "ts",
    "user_name",
    "reason",
    "source",
    "action",
    "table_name",
    "row_key",
    "old_values",
    "new_values",
    "prev_hash",
)
#: ``row_key`` of the audit key id's entries.
KEY_ID_ROW = '{"key":"audit_key_id"}'


def jsonable(value: Any) -> Any:
    """A stored value as JSON data (dates as ISO text).

    >>> jsonable(dt.date(2024, 1, 2))
    '2024-01-02'
    """
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def canonical(obj: Any) -> str:
    """Canonical JSON: sorted keys, no spaces, exact floats, no NaN."""
    return json.dumps(
        obj,
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
        default=jsonable,
    )


def entry_hash(entry: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of an audit entry's canonical JSON, ``prev_hash`` included (not ``mac``).

    >>> len(entry_hash({k: None for k in _HASHED}))
    64
    """
    return hashlib.sha256(canonical({k: entry[k] for k in _HASHED}).encode()).hexdigest()


def meta_values(key: str, value: str) -> dict[str, str]:
    """The audited values of a ``store_meta`` row: its key, its text and the text's SHA-256.

    >>> meta_values("protocol_toml", "")["sha256"][:8]
    'e3b0c442'
    """
    return {"key": key, "value": value, "sha256": hashlib.sha256(value.encode()).hexdigest()}

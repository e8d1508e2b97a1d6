"""Privacy guards for audiences: a minimum size, masked contact details, salted pseudonymous ids.

* A minimum audience size keeps exports from singling out a handful of people (ad platforms
  apply their own floors too: Google Customer Match needs 100 active members to serve,
  Meta custom audiences 100 matched people).
* Emails and phones are only ever displayed masked.
* Pseudonymous ids are HMAC-SHA256 of the customer id under a secret salt kept in the
  workspace (never in an export or manifest), so they cannot be reversed by hashing
  guessed ids, yet stay stable across exports of the same workspace.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

import numpy as np

if TYPE_CHECKING:
    from recsys.workspace import Workspace

DEFAULT_MIN_SIZE = 100
SALT_FILE = "pseudonym_salt.key"
SALT_BYTES = 32
# Columns that identify a person: never filtered on, shown, or written to a manifest.
PERSONAL_COLUMNS = frozenset({
    "email", "e_mail", "email_address", "phone", "phone_number", "mobile", "telephone", "first_name",
    "firstname", "given_name", "last_name", "lastname", "surname", "family_name", "name", "full_name",
    "address", "street", "zip", "zip_code", "postal_code", "postcode", "city", "state", "ip", "ip_address",
})


class SegmentTooSmall(ValueError):
    """An audience below the minimum size; the message says what to change."""


def check_min_size(n_members: int, min_size: int = DEFAULT_MIN_SIZE, *, what: str = "segment") -> None:
    """Raise ``SegmentTooSmall`` when ``n_members`` is below ``min_size``."""
    if min_size < 1:
        raise ValueError("the minimum segment size must be at least 1")
    if n_members < min_size:
        raise SegmentTooSmall(
            f"This {what} has {n_members:,} customer(s), fewer than the minimum of {min_size:,}: "
            "small audiences can single people out and ad platforms will not serve them. Widen the rule "
            "(a larger size, a lower threshold, fewer filters) or, if policy allows, lower the minimum size.")


def is_personal(column: str) -> bool:
    """Whether a customer attribute names a person or their contact details."""
    return str(column).strip().lower() in PERSONAL_COLUMNS


def mask_email(value: object) -> str:
    """``olivia.devries487@example.com`` -> ``o•••7@example.com`` (empty for missing values)."""
    text = _text(value)
    if not text:
        return ""
    local, at, domain = text.rpartition("@")
    if not at:
        return mask_phone(text) if any(c.isdigit() for c in text) else text[:1] + "•••"
    keep = local[:1] + "•••" + (local[-1:] if len(local) > 2 else "")
    return f"{keep}@{domain}"


def mask_phone(value: object) -> str:
    """Keep only the last two digits: ``+44 20 7946 0958`` -> ``•••••58``."""
    digits = [c for c in _text(value) if c.isdigit()]
    if not digits:
        return ""
    return "•" * max(len(digits) - 2, 3) + "".join(digits[-2:])


def pseudonymous_ids(ids: Iterable[object], salt: bytes) -> np.ndarray:
    """HMAC-SHA256(salt, id) hex digests (RFC 2104), one per id, as an object array."""
    if len(salt) < 16:
        raise ValueError("the salt must be at least 16 bytes")
    return np.asarray([hmac.new(salt, str(i).encode("utf-8"), hashlib.sha256).hexdigest() for i in ids],
                      dtype=object)


def workspace_salt(workspace: "Workspace") -> bytes:
    """The workspace's secret salt, created on first use (0600, never overwritten)."""
    from recsys.storage.atomic import fsync_dir, temp_sibling

    path = Path(workspace.root) / "segments" / SALT_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        # Written whole under a temporary name, then linked into place: a killed process never
        # leaves a truncated salt, and of two racing processes the first link wins.
        tmp = temp_sibling(path)
        try:
            with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as fh:
                fh.write(os.urandom(SALT_BYTES))
                fh.flush()
                os.fsync(fh.fileno())
            try:
                os.link(tmp, path)
            except FileExistsError:
                pass
            fsync_dir(path.parent)
        finally:
            tmp.unlink(missing_ok=True)
    return _read_salt(path)


def _read_salt(path: Path) -> bytes:
    # Always whole: workspace_salt links the file into place only after writing it.
    salt = path.read_bytes()
    if len(salt) < SALT_BYTES:
        raise RuntimeError(f"the pseudonym salt {path} is truncated; delete it to make a new one "
                           "(pseudonymous ids will change)")
    return salt[:SALT_BYTES]


def _text(value: object) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    try:
        import pandas as pd

        if pd.isna(value):
            return ""
    except (TypeError, ValueError):
        pass
    return str(value).strip()

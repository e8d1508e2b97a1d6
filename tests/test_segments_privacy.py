"""Privacy guards and manifests: minimum size, masking, salted pseudonyms, no personal data in manifests."""

from __future__ import annotations

import hashlib
import hmac
import json
import stat

import pytest

from recsys.segments.manifest import Manifest, build_manifest, manifest_name, scrub
from recsys.segments.privacy import (SegmentTooSmall, check_min_size, is_personal, mask_email, mask_phone,
                                     pseudonymous_ids, workspace_salt)
from recsys.workspace import Workspace


def test_minimum_size_is_enforced_with_a_clear_message():
    check_min_size(100, 100)
    with pytest.raises(SegmentTooSmall, match=r"has 99 customer\(s\), fewer than the minimum of 100") as err:
        check_min_size(99, 100)
    assert "Widen the rule" in str(err.value)
    assert isinstance(err.value, ValueError)


@pytest.mark.parametrize("email, shown", [("olivia.devries487@example.com", "o•••7@example.com"),
                                          ("ab@x.org", "a•••@x.org"), ("", ""), (None, "")])
def test_emails_are_masked(email, shown):
    assert mask_email(email) == shown


def test_phones_are_masked_to_the_last_two_digits():
    assert mask_phone("+44 20 7946 0958") == "•" * 10 + "58"
    assert "7946" not in mask_phone("+44 20 7946 0958")
    assert mask_phone(None) == ""


def test_contact_columns_are_personal():
    assert is_personal("Email") and is_personal("phone_number") and is_personal("postal_code")
    assert not is_personal("country") and not is_personal("loyalty_tier")


def test_pseudonymous_ids_are_hmac_sha256_under_the_workspace_salt(tmp_path):
    ws = Workspace(tmp_path / "ws")
    salt = workspace_salt(ws)
    assert len(salt) == 32 and workspace_salt(Workspace(tmp_path / "ws")) == salt, "created once, then reused"
    path = tmp_path / "ws" / "segments" / "pseudonym_salt.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    ids = pseudonymous_ids(["C000001", "C000002"], salt)
    assert ids[0] == hmac.new(salt, b"C000001", hashlib.sha256).hexdigest()
    assert ids[0] != hashlib.sha256(b"C000001").hexdigest(), "a plain hash could be reversed by guessing ids"
    assert workspace_salt(Workspace(tmp_path / "other")) != salt
    with pytest.raises(ValueError, match="at least 16 bytes"):
        pseudonymous_ids(["x"], b"short")


def manifest(**overrides) -> Manifest:
    args = dict(kind="segment", fmt="customer-match", file_name="fans-customer-match.csv", data=b"Email\nabc\n",
                row_count=1, run_id="run-1", dataset="sample", dataset_fingerprint="f" * 64, model="EASE",
                rule={"name": "fans", "description": "asked by jane.doe@example.com", "target": {"category": "Tech"}},
                reranker={"method": "mmr", "lambda": 0.5}, settings={"min_size": 100},
                stats={"n_rows": 1, "affinity_min": float("nan")})
    args.update(overrides)
    return build_manifest(**args)


def test_manifest_round_trips_and_checks_its_file():
    made = manifest()
    again = Manifest.from_json(made.to_json())
    assert again == made and Manifest.from_json(made.to_bytes()) == made
    assert made.file_sha256 == hashlib.sha256(b"Email\nabc\n").hexdigest()
    assert made.matches(b"Email\nabc\n") and not made.matches(b"Email\nabd\n")
    assert made.rule["target"] == {"category": "Tech"} and made.reranker["method"] == "mmr"
    assert made.software["recsys"] and made.created_at and made.stats["affinity_min"] is None
    assert manifest_name("a.csv") == "a.csv.manifest.json"
    json.loads(made.to_json())  # strict JSON: no NaN


def test_manifest_never_holds_a_raw_email():
    text = manifest().to_json()
    assert "jane.doe@example.com" not in text and "j•••e@example.com" in text
    assert scrub({"x": ["reach me at a.b@c.io please"]}) == {"x": ["reach me at a•••b@c.io please"]}

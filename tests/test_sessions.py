"""Two browser sessions at once on one workspace: each keeps its own dataset, neither overwrites.

Two independent AppTest sessions (each its own session state, as two browser tabs have) share
one on-disk workspace. Each uploads and imports a different dataset; afterwards each still
works on its own, the other's import does not switch it, and an import under a name the other
session already used is refused instead of replacing that session's data.
"""

from __future__ import annotations

import pathlib

import pytest
from streamlit.testing.v1 import AppTest

from recsys.workspace import Workspace

APP = str(pathlib.Path(__file__).resolve().parents[1] / "app.py")

ALPHA = b"user_id,item_id,timestamp\na1,x1,2024-01-01\na1,x2,2024-01-02\na2,x1,2024-01-03\na2,x3,2024-01-04\n"
BETA = (b"customer;product;date\nb1;y1;2024-02-01\nb2;y2;2024-02-02\nb3;y1;2024-02-03\nb3;y2;2024-02-04\n"
        b"b4;y3;2024-02-05\nb4;y1;2024-02-06\n")


def session() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.session_state["_default_checked"] = True  # an empty workspace: no bundled sample
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def upload_and_import(at: AppTest, file_name: str, data: bytes, dataset: str) -> None:
    at.get("file_uploader")[0].set_value((file_name, data, "text/csv"))
    at.run()
    at.text_input[0].set_value(dataset)
    [b for b in at.button if b.label == "Import"][0].click()
    at.run()
    assert not at.exception, [e.value for e in at.exception]


def shown_dataset(at: AppTest) -> str:
    """The dataset the Data page profiles (its caption names it)."""
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    captions = [c.value for c in at.caption if c.value.startswith("Dataset **")]
    assert captions, [c.value for c in at.caption]
    return captions[0].split("**")[1]


@pytest.fixture
def two_sessions(isolated_workspace):
    return session(), session(), Workspace(isolated_workspace)


def test_two_sessions_keep_their_own_dataset(two_sessions):
    a, b, ws = two_sessions
    upload_and_import(a, "alpha.csv", ALPHA, "alpha")
    upload_and_import(b, "beta.csv", BETA, "beta")

    assert a.session_state["current_dataset"] == "alpha"
    assert b.session_state["current_dataset"] == "beta"
    assert shown_dataset(a) == "alpha" and shown_dataset(b) == "beta"
    assert {m.label: m.value for m in a.metric}["Events"] == "4"
    assert {m.label: m.value for m in b.metric}["Events"] == "6"

    alpha = ws.load_table("alpha", "interactions")
    beta = ws.load_table("beta", "interactions")
    assert set(alpha["user_id"]) == {"a1", "a2"} and set(beta["user_id"]) == {"b1", "b2", "b3", "b4"}
    assert sorted(d.name for d in ws.list_datasets()) == ["alpha", "beta"]  # one shared workspace


def test_a_session_cannot_overwrite_the_other_sessions_dataset_by_accident(two_sessions):
    a, b, ws = two_sessions
    upload_and_import(a, "alpha.csv", ALPHA, "shared-name")
    before = ws.dataset_info("shared-name").fingerprint

    upload_and_import(b, "beta.csv", BETA, "shared-name")  # "Replace" left unticked
    assert any("already exists" in e.value for e in b.error), [e.value for e in b.error]
    assert ws.dataset_info("shared-name").fingerprint == before
    assert shown_dataset(a) == "shared-name"
    assert {m.label: m.value for m in a.metric}["Events"] == "4"

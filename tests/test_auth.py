"""Access control: password gate, per-user workspace ids, masked personal data."""

from __future__ import annotations

import pathlib

from streamlit.testing.v1 import AppTest

from ui.auth import mask_email, owner_id

APP = str(pathlib.Path(__file__).resolve().parents[1] / "app.py")


def test_password_gate_blocks_until_the_right_password():
    at = AppTest.from_file(APP, default_timeout=240)
    at.secrets["access"] = {"password": "correct horse"}
    at.run()
    assert not at.exception
    assert [t.label for t in at.text_input] == ["Password"]
    assert not at.metric, "nothing of the app is drawn before the password"
    at.text_input[0].set_value("wrong")
    at.button[0].click()
    at.run()
    assert any("Wrong password" in e.value for e in at.error)
    assert not at.metric
    at.text_input[0].set_value("correct horse")
    at.button[0].click()
    at.run()
    assert not at.exception
    assert any(m.label == "Events" for m in at.metric), "the Data page opens after the right password"


def test_owner_ids_are_stable_path_safe_and_not_the_email():
    a = owner_id("Jane.Doe@example.com ")
    assert a == owner_id("jane.doe@example.com")
    assert a != owner_id("john@example.com")
    assert "@" not in a and "/" not in a and "jane" not in a


def test_emails_are_masked():
    assert mask_email("jane.doe@example.com") == "j•••@example.com"
    assert mask_email("not-an-email") == "•••"

"""AppTest helpers shared by the page tests: open the app, go to a page, fail on any exception."""

from __future__ import annotations

import pathlib

from streamlit.testing.v1 import AppTest

APP = str(pathlib.Path(__file__).resolve().parents[1] / "app.py")


def assert_no_exception(at: AppTest) -> None:
    """Fail with the page's exception messages, if it raised any."""
    assert not at.exception, [e.value for e in at.exception]


def open_page(page: str, *, timeout: float = 240) -> AppTest:
    """The app after its first run (the shell, the default dataset), switched to ``page``."""
    at = AppTest.from_file(APP, default_timeout=timeout)
    at.run()
    assert_no_exception(at)
    at.switch_page(page)
    at.run()
    assert_no_exception(at)
    return at

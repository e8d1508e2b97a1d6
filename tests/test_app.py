"""AppTest of the app shell and the Data, Train and Evaluate pages (real workspace on disk)."""

from __future__ import annotations

import pathlib
import time

import pytest
from streamlit.testing.v1 import AppTest

from recsys.workspace import Workspace

TIMEOUT = 240
APP = str(pathlib.Path(__file__).resolve().parents[1] / "app.py")


def no_exceptions(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


@pytest.fixture
def app() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    no_exceptions(at)
    return at


def test_shell_opens_on_the_bundled_sample(app):
    assert app.session_state["current_dataset"] == "sample-content-platform"
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["Events"] == "150,000"
    assert int(metrics["Catalog items"].replace(",", "")) >= 1_000
    charts = app.get("plotly_chart")
    assert len(charts) >= 4, "the profile draws time, long tail, activity and category charts"
    assert Workspace().has_dataset("sample-content-platform")


def test_every_page_renders_without_exception(app):
    for page in ("pages/train.py", "pages/evaluate.py", "pages/data.py"):
        app.switch_page(page)
        app.run()
        no_exceptions(app)
        assert app.session_state["current_dataset"] == "sample-content-platform", page


def test_upload_maps_validates_and_imports(app):
    # Semicolon-delimited, Online-Retail-style headers, one row without a customer id.
    csv = ("InvoiceNo;StockCode;Quantity;InvoiceDate;CustomerID\n"
           "536365;85123A;6;2010-12-01 08:26:00;17850\n"
           "536366;71053;2;2010-12-01 09:00:00;17850\n"
           "536367;84406B;1;2010-12-02 10:00:00;\n"
           "536368;85123A;3;2010-12-03 11:00:00;13047\n").encode()
    app.get("file_uploader")[0].set_value(("retail.csv", csv, "text/csv"))
    app.run()
    no_exceptions(app)
    mapped = {s.label: s.value for s in app.selectbox}
    assert mapped["user_id *"] == "CustomerID" and mapped["item_id *"] == "StockCode"
    assert mapped["timestamp"] == "InvoiceDate"
    assert any("1 row(s) of the interactions table will not be imported" in w.value for w in app.warning)
    app.text_input[0].set_value("retail-upload")
    [b for b in app.button if b.label == "Import"][0].click()
    app.run()
    no_exceptions(app)
    info = Workspace().dataset_info("retail-upload")
    assert info.row_counts["interactions"] == 3
    assert app.session_state["current_dataset"] == "retail-upload"


def test_train_two_models_in_background_then_evaluate(app):
    app.switch_page("pages/train.py")
    app.run()
    app.button(key="FormSubmitter:train-form-Start training").click()
    app.run()
    no_exceptions(app)
    assert any("Started 2 training job(s)" in s.value for s in app.success)
    deadline = time.time() + TIMEOUT
    while time.time() < deadline:
        time.sleep(2)
        app.run()
        jobs = [m.value for m in app.markdown if "job `" in m.value]
        if len(jobs) == 2 and all("succeeded" in j for j in jobs):
            break
    assert len(jobs) == 2 and all("succeeded" in j for j in jobs), jobs
    app.switch_page("pages/evaluate.py")
    app.run()
    no_exceptions(app)
    board = app.dataframe[0].value
    assert list(board["run"].str.split(" · ").str[0]) == ["EASE", "Popularity"]
    assert board.loc[1, "p_holm"] < 0.05, "EASE should beat popularity significantly on the sample"

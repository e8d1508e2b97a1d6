"""AppTest of the Replay page on the bundled sample."""

from __future__ import annotations

import pathlib

from streamlit.testing.v1 import AppTest

from recsys.runs import train_run
from recsys.workspace import Workspace

APP = str(pathlib.Path(__file__).resolve().parents[1] / "app.py")


def test_replay_page_runs_and_draws_the_chart():
    at = AppTest.from_file(APP, default_timeout=240)
    at.run()  # imports the bundled sample into the test workspace
    assert not at.exception, [e.value for e in at.exception]
    train_run(Workspace(), "sample-content-platform", "itemknn", {"n_neighbors": 50}, split="none", device="cpu")
    at.switch_page("pages/replay.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert not [b for b in at.button if b.key == "replay-cancel"]  # no Cancel while nothing runs
    at.number_input[0].set_value(200)
    at.button(key="FormSubmitter:replay-form-Replay").click()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert len(at.get("plotly_chart")) == 2  # NDCG incremental vs frozen, category mix
    assert at.metric[0].label.startswith("NDCG@10 incremental")
    assert len(at.dataframe[0].value) == 4  # four weekly steps from the trend shift
    assert not [b for b in at.button if b.key == "replay-cancel"]  # cleared when the replay ends

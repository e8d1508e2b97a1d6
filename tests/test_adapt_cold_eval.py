"""Cold-start protocols on the bundled sample: references beat Popularity where the planted structure says.

The sample plants customer-attribute effects (age group x3 on two topics, country x1.8 on
one) and topic words in item text (sample_data/README.md), so on user-cold the attribute
reference, and on item-cold the content reference, must beat Popularity significantly.
Figures are printed (run with -s to see them).
"""

from __future__ import annotations


import numpy as np
import pytest
import torch
from apptest_pages import open_page

from recsys.adapt.cold_start import ATTRIBUTES_LABEL, CONTENT_LABEL, POPULARITY_LABEL, compare_cold_start
from recsys.data.samples import import_sample
from recsys.evaluation.evaluate import evaluate_model
from recsys.evaluation.report import ACCURACY_METRICS, compare_stored_runs
from recsys.evaluation.splits import make_split
from recsys.models.registry import create
from recsys.runs import dataset_from_tables, load_run, train_run
from recsys.training.options import FitOptions
from recsys.workspace import Workspace

DATASET = "sample-content-platform"


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    ws = Workspace(tmp_path_factory.mktemp("cold-workspace"))
    import_sample("content-platform", ws)
    return dataset_from_tables(ws.load_tables(DATASET), ws.dataset_info(DATASET).metadata)


def significantly_best(board, best: str, baseline: str = POPULARITY_LABEL) -> None:
    assert board.index[0] == best, board
    row = board.loc[baseline]
    assert row["vs"] == best and row["diff_high"] < 0 and row["p_holm"] < 0.05, board


@pytest.mark.parametrize("protocol,best", [("user_cold", ATTRIBUTES_LABEL), ("item_cold", CONTENT_LABEL)])
def test_cold_references_beat_popularity_on_the_sample(sample, protocol, best):
    split = make_split(sample, protocol)
    result = compare_cold_start(split, k=10)
    print(f"\n{protocol}: " + ", ".join(f"{name} NDCG@10 {row['mean']:.4f} [{row['low']:.4f}, {row['high']:.4f}]"
                                        for name, row in result.board.iterrows()))
    significantly_best(result.board, best)
    for evaluation in result.results.values():
        assert evaluation.summary["n_users"] == len(split.eval_users()) > 500
        assert all(f"{m}@10" in evaluation.per_user for m in ACCURACY_METRICS)


def test_user_cold_customers_are_unknown_to_the_model_and_onboarding_helps(sample):
    split = make_split(sample, "user_cold")
    held = split.eval_users()
    assert not np.isin(held, split.fit_data().frame["user_idx"]).any()
    onboarded = make_split(sample, "user_cold", onboarding=3)
    assert set(onboarded.eval_users()) <= set(held)  # the same customers are held out
    pop = create("popularity").fit(onboarded.fit_data())
    itemknn = create("itemknn").fit(onboarded.fit_data())
    # with three revealed items a history model beats popularity on the rest of their events
    assert evaluate_model(itemknn, onboarded, ks=(10,)).summary["ndcg@10"] > \
        evaluate_model(pop, onboarded, ks=(10,)).summary["ndcg@10"]


def test_a_run_trained_on_item_cold_is_ranked_among_the_held_out_items(tmp_path):
    ws = Workspace(tmp_path / "ws")
    import_sample("content-platform", ws)
    record = train_run(ws, DATASET, "popularity", split="item_cold")
    run = load_run(ws, record.id, with_split=True)
    assert run.split.protocol == "item_cold" and len(run.split.candidates) == run.split.params["n_cold_items"]
    recs = run.model.recommend(run.split.eval_users()[:50], 10, exclude_seen=False, candidates=run.split.candidates)
    assert set(recs.item_idx) <= set(run.split.candidates)
    comparison = compare_stored_runs(ws, [record.id], k=10)
    assert comparison.board["n_users"].iloc[0] == len(run.split.eval_users())


@pytest.mark.slow
def test_hybrid_serves_new_customers_from_attributes_better_than_popularity(sample):
    torch.set_num_threads(1)
    split = make_split(sample, "user_cold")
    hybrid = create("hybrid", epochs=3, batch_size=4096).fit(split.fit_data(), options=FitOptions(device="cpu"))
    result = compare_cold_start(split, {"Hybrid": hybrid}, k=10)
    print("\n" + result.board[["mean", "low", "high"]].to_string())
    significantly_best(result.board, "Hybrid")  # measured: 0.228 vs Popularity 0.195 (attributes 0.217)


@pytest.mark.slow
def test_content_neural_places_new_items_better_than_popularity(sample):
    torch.set_num_threads(1)
    split = make_split(sample, "item_cold")
    model = create("content_neural", epochs=5).fit(split.fit_data(), options=FitOptions(device="cpu"))
    result = compare_cold_start(split, {"ContentNeural": model}, k=10)
    print("\n" + result.board[["mean", "low", "high"]].to_string())
    row = result.board.loc[POPULARITY_LABEL]
    assert result.board.loc["ContentNeural", "mean"] > row["high"] and row["p_holm"] < 0.05


def test_evaluate_page_shows_the_cold_start_protocols(tmp_path, monkeypatch):
    monkeypatch.setenv("RECSYS_WORKSPACE", str(tmp_path / "app-ws"))
    ws = Workspace()
    import_sample("content-platform", ws)
    run = train_run(ws, DATASET, "content_tfidf", split="item_cold")
    at = open_page("pages/evaluate.py")
    protocol = next(s for s in at.selectbox if s.label == "Protocol")
    assert protocol.options == ["Item-cold (new items)", "User-cold (new customers)"]
    # item-cold: the run trained on it, next to the references
    board = at.dataframe[0].value
    names = list(board["run"])
    assert f"{run.display_name} · {run.id[-6:]}" in names and POPULARITY_LABEL in names and CONTENT_LABEL in names
    assert board.set_index("run").loc[POPULARITY_LABEL, "significance"] == "worse (p<0.05)"
    assert any("ranked among the held-out items only" in c.value for c in at.caption)
    protocol.set_value("user_cold")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("held out entirely" in c.value and "attributes" in c.value for c in at.caption)
    board = at.dataframe[0].value
    assert list(board["run"]) == [ATTRIBUTES_LABEL, POPULARITY_LABEL]
    next(s for s in at.selectbox if s.label.startswith("Onboarding")).set_value(3)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert len(at.dataframe[0].value) == 2

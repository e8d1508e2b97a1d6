"""Fairness on the bundled sample: the planted underserved group, re-ranking effects, exports, page.

One workspace with the sample and two trained runs (Popularity, ItemKNN) is shared by
the module; the measured figures are printed (run with -s to see them).
"""

from __future__ import annotations

import json
from types import SimpleNamespace

import pandas as pd
import pytest
from apptest_pages import open_page

from recsys.cli import main as cli_main
from recsys.data.samples import import_sample
from recsys.fairness.report import fairness_report, run_inputs, sweep
from recsys.runs import train_run
from recsys.workspace import Workspace

DATASET = "sample-content-platform"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("fairness-workspace")
    ws = Workspace(root)
    import_sample("content-platform", ws)
    popularity = train_run(ws, DATASET, "popularity")
    itemknn = train_run(ws, DATASET, "itemknn")
    return SimpleNamespace(ws=ws, root=root, popularity=popularity.id, itemknn=itemknn.id)


@pytest.fixture(scope="module")
def knn_inputs(trained):
    return run_inputs(trained.ws, trained.itemknn)


def test_japan_is_significantly_underserved_by_popularity(trained):
    report = fairness_report(trained.ws, trained.popularity, by=["country", "activity"], metrics=["ndcg"],
                             item_by=["category"])
    ndcg = report.groups[report.groups["metric"] == "ndcg@10"]
    for grouping in ("country", "activity"):
        assert ndcg[ndcg["grouping"] == grouping]["n"].sum() == report.summary["n_customers"]
    japan = ndcg[(ndcg["grouping"] == "country") & (ndcg["group"] == "Japan")].iloc[0]
    best = ndcg[(ndcg["grouping"] == "country") & ndcg["best"]].iloc[0]
    print(f"\nPopularity NDCG@10: Japan {japan['mean']:.4f} [{japan['low']:.4f}, {japan['high']:.4f}] (n={japan['n']}) "
          f"vs best {best['group']} {best['mean']:.4f}; gap {japan['gap']:+.4f} "
          f"[{japan['gap_low']:+.4f}, {japan['gap_high']:+.4f}], Holm p={japan['p_holm']:.4f}")
    assert japan["gap_high"] < 0, "the gap's interval must exclude zero"
    assert japan["verdict"] == "significantly worse"
    assert japan["mean"] < 0.5 * best["mean"]
    worst = ndcg[ndcg["grouping"] == "country"].sort_values("mean").iloc[0]
    assert worst["group"] == "Japan"
    gaming = report.exposure.set_index("group").loc["Gaming"]
    assert gaming["exposure_share"] < 0.5 * gaming["catalog_share"], "popularity hides the niche Gaming shelf"


def test_calibrated_reranking_lowers_miscalibration(knn_inputs):
    table = sweep(knn_inputs, methods=["calibrated"], lambdas=[0.0, 0.5], protected=("category", "Gaming"),
                  n_boot=200).set_index("lambda")
    before, after = table.loc[0.0, "miscalibration"], table.loc[0.5, "miscalibration"]
    change = table.loc[0.5, "accuracy_change"]
    print(f"\nItemKNN calibrated re-ranking, lambda 0.5: mean KL {before:.3f} -> {after:.3f}; NDCG@10 "
          f"{table.loc[0.0, 'ndcg@10']:.4f} -> {table.loc[0.5, 'ndcg@10']:.4f} ({change:+.1%})")
    assert after < 0.4 * before
    assert change > -0.05, "a calibrated list should cost little accuracy"


def test_exposure_reranking_raises_the_long_tail_share(knn_inputs):
    table = sweep(knn_inputs, methods=["exposure"], lambdas=[0.0, 0.5], n_boot=200).set_index("lambda")
    before, after = table.loc[0.0, "protected_exposure_share"], table.loc[0.5, "protected_exposure_share"]
    described = json.loads(table.loc[0.5, "reranker"])
    print(f"\nItemKNN exposure re-ranking (popularity tail, target share {described['target_share']:.2f}), "
          f"lambda 0.5: tail exposure share {before:.3f} -> {after:.3f}; NDCG@10 change "
          f"{table.loc[0.5, 'accuracy_change']:+.1%}")
    assert after > before + 0.10
    assert table.loc[0.5, "long_tail_share"] > table.loc[0.0, "long_tail_share"] + 0.10
    assert table.loc[0.5, "ndcg@10"] < table.loc[0.0, "ndcg@10"], "fairness is bought with some accuracy"


def test_cli_writes_csv_tables_and_an_offline_html_report(trained, tmp_path, capsys):
    out = tmp_path / "report"
    code = cli_main(["fairness", "--workspace", str(trained.root), "--run", trained.popularity,
                     "--by", "country,country+age_group", "--items", "category,popularity_tier",
                     "--n-boot", "200", "--sweep", "mmr", "--out", str(out)])
    assert code == 0
    assert "Japan" in capsys.readouterr().out
    for name in ("summary", "groups", "exposure", "lorenz", "per_customer", "tradeoff"):
        assert (out / f"{name}.csv").exists(), name
    groups = pd.read_csv(out / "groups.csv")
    crossed = groups[(groups["grouping"] == "country+age_group") & (groups["metric"] == "ndcg@10")]
    assert crossed["too_small"].any() and (crossed[crossed["too_small"]]["verdict"] == "too small to judge").all()
    page = (out / "report.html").read_text()
    assert page.count("* plotly.js v") == 1, "plotly.js inlined exactly once"
    assert page.count("class=\"plotly-graph-div\"") >= 5
    assert "<script src=" not in page, "nothing is fetched when the file opens"
    assert json.loads((out / "meta.json").read_text())["by"] == ["country", "country+age_group"]


def test_fairness_page_renders_charts_and_downloads(trained, monkeypatch):
    monkeypatch.setenv("RECSYS_WORKSPACE", str(trained.root))
    at = open_page("pages/fairness.py")
    assert at.title[0].value == "Fairness"
    charts = at.get("plotly_chart")
    assert len(charts) >= 5, "by group, calibration, exposure, Lorenz and trade-off"
    spec = json.loads(charts[0].proto.spec)
    assert any(trace.get("error_y") for trace in spec["data"]), "group means carry interval bars"
    downloads = at.get("download_button")
    assert len(downloads) == 2
    assert any("Japan" in str(v) for v in at.dataframe[0].value["group"])

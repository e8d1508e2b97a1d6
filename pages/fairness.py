"""Fairness: accuracy by customer group, exposure by item group, calibration, and re-ranking trade-offs."""

from __future__ import annotations

import streamlit as st

from recsys.fairness.exposure import available_item_groupings
from recsys.fairness.groups import available_groupings
from recsys.fairness.report import (ACCURACY, BEYOND, DEFAULT_METRICS, METHODS, METRIC_HELP, build_report,
                                    report_html, run_inputs, sweep, tables_zip)
from recsys.workspace import Workspace
from recsys.fairness import charts
from ui.downloads import deferred
from ui.guards import require_dataset, require_runs
from ui.shell import ensure_shell
from ui.workspace import workspace

ensure_shell()

NONE = "(none)"
METHOD_LABELS = {"calibrated": "Calibrated (Steck 2018): match each customer's category mix",
                 "exposure": "Exposure-fair (FA*IR-style): guarantee an item group a share of every list",
                 "mmr": "MMR (Carbonell & Goldstein 1998): diversify categories within each list"}

st.title("Fairness")
ws = workspace()
dataset = require_dataset(ws)
runs = require_runs(ws, dataset, held_out=True,
                    missing="No run with a held-out split for this dataset yet: train a model on the Train page.")


@st.cache_resource(max_entries=2, ttl=3600, show_spinner="Recommending to the held-out customers...")
def inputs_for(root: str, run_id: str):
    return run_inputs(Workspace(root), run_id)


@st.cache_data(max_entries=16, show_spinner="Breaking the metrics down by group (bootstrap)...")
def report_for(root: str, run_id: str, grouping: str, item_grouping: str, metrics: tuple[str, ...], k: int):
    return build_report(inputs_for(root, run_id), [grouping], k=k, item_by=[item_grouping], metrics=list(metrics))


@st.cache_data(max_entries=16, show_spinner="Re-ranking at five strengths...")
def sweep_for(root: str, run_id: str, method: str, k: int, protected: tuple[str, str]):
    return sweep(inputs_for(root, run_id), methods=[method], k=k, protected=protected)


@st.cache_data(max_entries=4, show_spinner="Preparing the downloads...")
def downloads(_report, key: tuple) -> tuple[bytes, str]:
    return tables_zip(_report), report_html(_report)


labels = {r.run_id: f"{r.display_name} · {r.run_id[-6:]} ({r.created_at[:16]})" for r in runs.itertuples()}
run_id = st.selectbox("Run", list(labels), format_func=labels.get, help="Runs trained with a held-out split.")
root = str(ws.root)
try:
    inputs = inputs_for(root, run_id)
except (ValueError, KeyError) as err:
    st.error(f"This run cannot be judged: {err}")
    st.stop()

groupings = available_groupings(inputs.data)
c1, c2, c3, c4 = st.columns([2, 2, 2, 1])
first = c1.selectbox("Group customers by", groupings,
                     index=groupings.index("country") if "country" in groupings else 0,
                     help="A customer attribute, 'activity' (new / light / heavy by training-event terciles) "
                          "or 'tenure' (time since sign-up).")
second = c2.selectbox("…crossed with", [NONE] + [g for g in groupings if g != first],
                      help="Optional: the intersection of two groupings (groups get small quickly).")
metric = c3.selectbox("Metric", list(ACCURACY) + list(BEYOND), format_func=lambda m: METRIC_HELP[m].split(":")[0])
k = int(c4.selectbox("K", [5, 10, 20], index=1))
grouping = first if second == NONE else f"{first}+{second}"
item_groupings = available_item_groupings(inputs.data)
metrics = tuple(dict.fromkeys([*DEFAULT_METRICS, *([metric] if metric in ACCURACY else [])]))
column = f"{metric}@{k}" if metric in ACCURACY else metric
item_grouping = st.selectbox("Group items by", item_groupings,
                             index=item_groupings.index("category") if "category" in item_groupings else 0,
                             help="Catalog attributes, 'popularity_tier' (head / mid / tail by share of "
                                  "interactions) or 'item_age' (time since publishing).")
report = report_for(root, run_id, grouping, item_grouping, metrics, k)

st.subheader(f"{METRIC_HELP[metric].split(':')[0]} by {grouping}")
st.caption(f"{METRIC_HELP[metric]}. Bars are group means over held-out customers with 95% percentile bootstrap "
           "intervals; n is the number of customers. Each group's gap to the best group (chosen among groups of "
           f"at least {report.meta['min_size']}) comes with its own interval and a bootstrap test, Holm-adjusted "
           "across groups: 'significantly worse' means p < 0.05 after adjustment. Smaller groups stay in the "
           "chart, marked 'too small to judge'.")
for note in report.notes:
    st.warning(note)
st.plotly_chart(charts.metric_by_group(report.groups, grouping, column), key="by-group")
table = report.groups[(report.groups["grouping"] == grouping) & (report.groups["metric"] == column)]
st.dataframe(table[["group", "n", "mean", "low", "high", "gap", "gap_low", "gap_high", "ratio", "p_holm", "verdict"]],
             hide_index=True, width="stretch")

left, right = st.columns(2)
with left:
    st.subheader("Calibration")
    st.caption(METRIC_HELP["miscalibration"] + ", with alpha = 0.01 smoothing and rank-weighted lists.")
    if report.calibration.empty:
        st.info("Calibration needs item categories.")
    else:
        st.plotly_chart(charts.calibration_by_group(report.groups, grouping), key="calibration")
with right:
    st.subheader("Exposure of item groups")
    st.caption("Share of position-weighted exposure (1/log2(rank+1)) each item group gets in the top-K lists, "
               "next to its share of the catalog and of the training interactions.")
    st.plotly_chart(charts.exposure_vs_share(report.exposure, item_grouping), key="exposure")

summary = report.summary
m1, m2, m3, m4 = st.columns(4)
m1.metric("Exposure Gini", f"{summary['exposure_gini']:.2f}", help="0: every item equally exposed; "
          "(n-1)/n: all exposure on one item.")
m2.metric("Catalog coverage", f"{summary['catalog_coverage']:.1%}",
          help=f"{summary['n_distinct_items']:,} distinct items recommended to anyone (aggregate diversity).")
m3.metric("Avg. recommendation popularity", f"{summary.get('mean_avgpop') or 0:,.0f}",
          help=METRIC_HELP["avgpop"])
m4.metric("Long-tail share", f"{summary.get('mean_long_tail_share') or 0:.1%}", help=METRIC_HELP["long_tail_share"])
st.plotly_chart(charts.lorenz(report.lorenz, summary["exposure_gini"]), key="lorenz")

st.subheader("Re-ranking: trade accuracy for fairness or diversity")
st.caption("Each re-ranker rebuilds the top-K from the model's top 100 with a strength λ from 0 (the model's "
           "own order) to 1; the curve shows what each strength costs in accuracy (95% interval) and buys in "
           "the quantity the method targets.")
r1, r2 = st.columns(2)
method = r1.selectbox("Re-ranker", METHODS, format_func=METHOD_LABELS.get)
protected = ("popularity_tier", "tail")
if method == "exposure":
    item_labels = report.exposure[report.exposure["grouping"] == item_grouping]["group"].tolist()
    target = r2.selectbox(f"Protected {item_grouping}", item_labels, index=len(item_labels) - 1,
                          help="Every list's prefix must hold at least λ × (its catalog share) of these items.")
    protected = (item_grouping, target)
try:
    tradeoff = sweep_for(root, run_id, method, k, protected)
except ValueError as err:
    st.error(f"This re-ranker cannot run here: {err}")
else:
    accuracy = f"ndcg@{k}"
    st.plotly_chart(charts.tradeoff_curve(tradeoff, method, accuracy), key="tradeoff")
    st.dataframe(tradeoff.drop(columns=["reranker"]), hide_index=True, width="stretch")
    report = report.with_tradeoff(tradeoff)

zipped, page = downloads(report, (root, run_id, grouping, item_grouping, metrics, k, method, protected))
d1, d2 = st.columns(2)
d1.download_button("Download the tables (CSV, zip)", deferred(zipped), file_name=f"fairness_{run_id}.zip",
                   mime="application/zip", key="download-zip")
d2.download_button("Download the report (HTML, opens offline)", deferred(page), file_name=f"fairness_{run_id}.html",
                   mime="text/html", key="download-html")

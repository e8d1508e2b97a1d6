"""Plotly renderers for the fairness report (pure functions returning figures, no Streamlit).

The HTML export (``recsys.fairness.report.report_html``) uses ``report_figures``,
so the page and the file show the same charts.
"""

from __future__ import annotations

import plotly.express as px
import plotly.graph_objects as go
import pandas as pd

HEIGHT = 360
VERDICT_COLORS = {"best": "#2E6FD8", "no significant gap": "#8FA8C8", "significantly worse": "#E4572E",
                  "significantly better": "#3BB273", "too small to judge": "#BBBBBB"}
# What each re-ranker is meant to improve: the x axis of its trade-off curve.
TRADEOFF_AXES = {"calibrated": ("miscalibration", "mean miscalibration (KL, lower is better)"),
                 "exposure": ("protected_exposure_share", "protected group's exposure share"),
                 "mmr": ("diversity", "intra-list diversity (share of pairs from different categories)")}


def metric_by_group(groups: pd.DataFrame, grouping: str, metric: str, *, title: str | None = None) -> go.Figure:
    """Mean of ``metric`` per group with its 95% interval, coloured by the gap test's verdict."""
    frame = groups[(groups["grouping"] == grouping) & (groups["metric"] == metric)].copy()
    frame["label"] = frame["group"].astype(str) + "<br>n=" + frame["n"].astype(str)
    fig = px.bar(frame, x="label", y="mean", color="verdict", color_discrete_map=VERDICT_COLORS,
                 error_y=frame["high"] - frame["mean"], error_y_minus=frame["mean"] - frame["low"],
                 height=HEIGHT, title=title or f"{metric} by {grouping} (95% bootstrap intervals)",
                 labels={"label": grouping, "mean": metric}, category_orders={"label": list(frame["label"])})
    fig.update_layout(legend_title_text="vs the best group", margin=dict(t=50, b=10))
    return fig


def calibration_by_group(groups: pd.DataFrame, grouping: str) -> go.Figure:
    """Mean miscalibration (KL, lower is better) per group with intervals."""
    return metric_by_group(groups, grouping, "miscalibration",
                           title=f"Miscalibration by {grouping} (KL of category mix; lower is better)")


def exposure_vs_share(exposure: pd.DataFrame, grouping: str) -> go.Figure:
    """Each item group's share of exposure next to its share of the catalog and of interactions."""
    frame = exposure[exposure["grouping"] == grouping]
    long = frame.melt(id_vars="group", value_vars=["catalog_share", "interactions_share", "exposure_share"],
                      var_name="share of", value_name="share")
    long["share of"] = long["share of"].str.replace("_share", "").map(
        {"catalog": "catalog", "interactions": "interactions", "exposure": "exposure in the lists"})
    fig = px.bar(long, x="group", y="share", color="share of", barmode="group", height=HEIGHT,
                 title=f"Exposure by {grouping} vs catalog and interaction shares",
                 color_discrete_sequence=["#BBBBBB", "#8FA8C8", "#2E6FD8"])
    fig.update_layout(yaxis_tickformat=".0%", xaxis_title=grouping, legend_title_text="", margin=dict(t=50, b=10))
    return fig


def lorenz(curve: pd.DataFrame, gini: float | None = None) -> go.Figure:
    """Lorenz curve of item exposure against the line of equal exposure."""
    fig = go.Figure()
    fig.add_scatter(x=[0, 1], y=[0, 1], mode="lines", name="equal exposure", line=dict(dash="dash", color="#999"))
    fig.add_scatter(x=curve["item_share"], y=curve["exposure_share"], mode="lines", name="recommendations",
                    line=dict(color="#2E6FD8"), fill="tonexty")
    title = "Lorenz curve of item exposure" + (f" (Gini {gini:.2f})" if gini is not None else "")
    fig.update_layout(title=title, height=HEIGHT, xaxis_title="share of items (least exposed first)",
                      yaxis_title="share of exposure", xaxis_tickformat=".0%", yaxis_tickformat=".0%",
                      margin=dict(t=50, b=10), legend=dict(orientation="h", y=-0.25))
    return fig


def tradeoff_curve(tradeoff: pd.DataFrame, method: str, accuracy: str) -> go.Figure:
    """Accuracy (with intervals) against what ``method`` improves, one point per strength lambda."""
    column, label = TRADEOFF_AXES[method]
    frame = tradeoff[tradeoff["method"] == method].sort_values("lambda")
    fig = go.Figure()
    fig.add_scatter(x=frame[column], y=frame[accuracy], mode="lines+markers+text",
                    text=[f"λ={v:g}" for v in frame["lambda"]], textposition="top center",
                    error_y=dict(type="data", array=frame["high"] - frame[accuracy],
                                 arrayminus=frame[accuracy] - frame["low"]), name=method)
    fig.update_layout(title=f"Trade-off of {method} re-ranking: {accuracy} vs {column}", height=HEIGHT,
                      xaxis_title=label, yaxis_title=accuracy, margin=dict(t=50, b=10))
    return fig


def report_figures(report) -> dict[str, go.Figure]:
    """Every chart of a ``FairnessReport``, titled, in reading order."""
    figures: dict[str, go.Figure] = {}
    metrics = [m for m in report.groups["metric"].unique()] if len(report.groups) else []
    headline = next((m for m in metrics if "@" in m), None)
    for grouping in report.meta.get("by", []):
        if headline:
            figures[f"{headline} by {grouping}"] = metric_by_group(report.groups, grouping, headline)
        if "miscalibration" in metrics:
            figures[f"Miscalibration by {grouping}"] = calibration_by_group(report.groups, grouping)
    for grouping in report.meta.get("item_by", []):
        figures[f"Exposure by {grouping}"] = exposure_vs_share(report.exposure, grouping)
    figures["Lorenz curve of exposure"] = lorenz(report.lorenz, report.summary.get("exposure_gini"))
    if report.tradeoff is not None and len(report.tradeoff):
        accuracy = next(c for c in report.tradeoff.columns if "@" in c)
        for method in report.tradeoff["method"].unique():
            figures[f"Trade-off: {method}"] = tradeoff_curve(report.tradeoff, method, accuracy)
    return figures

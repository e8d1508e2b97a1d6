"""Plotly renderers of explanations and the customer drill-down (pure functions returning figures).

Every explanation chart takes the one ``Explanation`` record; which chart suits it
follows ``explanation.kind`` (see ``charts_for``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

from recsys.explain.record import Explanation

HEIGHT = 360
POSITIVE, NEGATIVE, NEUTRAL = "#2E6FD8", "#E4572E", "#8C8C8C"


def _short(text: str, n: int = 38) -> str:
    text = str(text)
    return text if len(text) <= n else text[: n - 1] + "…"


def history_bars(e: Explanation, n: int = 15) -> go.Figure:
    """Contribution of each history item (summed over its positions), largest |value| first."""
    frame = e.contributions
    per_item = frame.groupby(["item_idx", "title"], sort=False)["value"].sum().reset_index()
    per_item = per_item.reindex(per_item["value"].abs().sort_values(ascending=False).index).head(n)[::-1]
    colours = [POSITIVE if v >= 0 else NEGATIVE for v in per_item["value"]]
    fig = go.Figure(go.Bar(x=per_item["value"], y=[_short(t) for t in per_item["title"]], orientation="h",
                           marker_color=colours, hovertext=per_item["title"], hoverinfo="text+x"))
    label = "attention weight" if e.method == "attention" else "contribution to the score"
    fig.update_layout(title=f"History items behind the recommendation ({e.method})", xaxis_title=label,
                      height=max(HEIGHT, 28 * len(per_item) + 120), margin=dict(t=50, b=10, l=10))
    return fig


def attention_heatmap(e: Explanation, layer: int = -1, head: int | None = None) -> go.Figure:
    """Attention of each history position (rows: queries) over earlier positions (columns: keys)."""
    weights = np.asarray(e.meta["weights"], np.float64)  # (blocks, heads, L, L)
    block = weights[layer]
    matrix = block.mean(0) if head is None else block[head]
    labels = item_titles_by_position(e)
    which = f"block {layer % weights.shape[0] + 1}, " + ("mean over heads" if head is None else f"head {head + 1}")
    fig = go.Figure(go.Heatmap(z=matrix, x=labels, y=labels, colorscale="Blues", zmin=0, zmax=1,
                               hovertemplate="query %{y}<br>key %{x}<br>weight %{z:.3f}<extra></extra>"))
    fig.update_layout(title=f"Attention ({which}); rows sum to 1, causal", height=HEIGHT + 140,
                      yaxis=dict(autorange="reversed"), margin=dict(t=50, b=10))
    return fig


def item_titles_by_position(e: Explanation) -> list[str]:
    """Unique axis labels "position. title" in window order (oldest first)."""
    frame = e.contributions.sort_values("position")
    return [f"{int(p) + 1}. {_short(t, 24)}" for p, t in zip(frame["position"], frame["title"])]


def shap_waterfall(e: Explanation) -> go.Figure:
    """From the base value through each group's SHAP value to the score."""
    frame = e.contributions.sort_values("value", key=np.abs, ascending=False)
    fig = go.Figure(go.Waterfall(
        orientation="h", measure=["absolute", *["relative"] * len(frame), "total"],
        y=["base value", *frame["feature"], "score"],
        x=[e.base_value, *frame["value"], e.score],
        text=["background average", *[_short(t, 60) for t in frame["label"]], ""],
        increasing=dict(marker_color=POSITIVE), decreasing=dict(marker_color=NEGATIVE),
        totals=dict(marker_color=NEUTRAL)))
    fig.update_layout(title="SHAP waterfall over feature groups", height=HEIGHT, yaxis=dict(autorange="reversed"),
                      margin=dict(t=50, b=10))
    return fig


def feature_bars(e: Explanation, n: int = 20) -> go.Figure:
    """Per-field (or per-embedding) attributions coloured by feature group."""
    frame = e.contributions.reindex(e.contributions["value"].abs().sort_values(ascending=False).index).head(n)
    frame = frame.iloc[::-1]
    fig = px.bar(frame, x="value", y=[_short(lbl, 48) for lbl in frame["label"]], color="group", orientation="h",
                 height=max(HEIGHT, 26 * len(frame) + 120), title=f"Attributions by feature ({e.method})")
    fig.update_layout(yaxis_title="", xaxis_title="contribution to the score", margin=dict(t=50, b=10))
    return fig


def group_bars(e: Explanation) -> go.Figure:
    """Attributions summed per feature group."""
    groups = e.contributions.groupby("group")["value"].sum().sort_values()
    fig = go.Figure(go.Bar(x=groups.values, y=groups.index, orientation="h",
                           marker_color=[POSITIVE if v >= 0 else NEGATIVE for v in groups.values]))
    fig.update_layout(title="By feature group", height=HEIGHT - 60, margin=dict(t=50, b=10),
                      xaxis_title="contribution to the score")
    return fig


def charts_for(e: Explanation) -> list[go.Figure]:
    """The charts that suit ``e``: history bars (+ heatmap), waterfall, or feature/group bars."""
    if e.kind == "attention":
        return [history_bars(e), attention_heatmap(e)]
    if e.kind == "history_items":
        return [history_bars(e)]
    if e.kind == "groups":
        return [shap_waterfall(e)]
    return [feature_bars(e), group_bars(e)]


def shap_summary_chart(values: pd.DataFrame, summary: pd.DataFrame) -> go.Figure:
    """Global SHAP: each customer's value per group (strip) ordered by mean |SHAP|."""
    order = summary["group"].tolist()
    fig = px.strip(values, x="value", y="group", category_orders={"group": order}, height=HEIGHT,
                   hover_data=["user_id", "item_id"], title="SHAP values of each customer's top recommendation")
    fig.update_traces(marker=dict(size=5, opacity=0.6))
    fig.add_vline(x=0, line_color=NEUTRAL)
    fig.update_layout(margin=dict(t=50, b=10))
    return fig


def embedding_map_chart(frame: pd.DataFrame) -> go.Figure:
    fig = px.scatter(frame, x="x", y="y", color="category", size=np.sqrt(frame["popularity"] + 1),
                     hover_name="title", hover_data={"item_id": True, "popularity": True, "x": False, "y": False},
                     height=HEIGHT + 140, title="Items in the model's space (2D projection), coloured by category")
    fig.update_layout(margin=dict(t=50, b=10), xaxis_title="", yaxis_title="")
    return fig


def timeline_chart(events: pd.DataFrame) -> go.Figure:
    """The customer's events over time, one row per event type, coloured by category."""
    if "time" not in events or events.empty:
        frame = events.assign(order=np.arange(len(events)))
        x = "order"
    else:
        frame, x = events, "time"
    y = "event_type" if "event_type" in frame else "category"
    fig = px.scatter(frame, x=x, y=y, color="category", hover_name="title", height=HEIGHT - 40,
                     title="History timeline by event type")
    fig.update_traces(marker=dict(size=9, opacity=0.8))
    fig.update_layout(margin=dict(t=50, b=10), yaxis_title="")
    return fig


def category_bars(top: pd.DataFrame) -> go.Figure:
    fig = px.bar(top, x="events", y="category", orientation="h", height=HEIGHT - 100, title="Top categories")
    fig.update_layout(margin=dict(t=50, b=10), yaxis=dict(autorange="reversed"), yaxis_title="")
    return fig


def whatif_chart(moves: pd.DataFrame, k: int) -> go.Figure:
    """Rank before -> after for every item in either list (out of the list drawn at k + 1)."""
    fig = go.Figure()
    colours = {"entered": POSITIVE, "left": NEGATIVE, "up": POSITIVE, "down": NEGATIVE, "same": NEUTRAL}
    for row in moves.itertuples():
        before = row.rank_before if not pd.isna(row.rank_before) else k + 1
        after = row.rank_after if not pd.isna(row.rank_after) else k + 1
        fig.add_scatter(x=["before", "after"], y=[before, after], mode="lines+markers", name=_short(row.title, 30),
                        line=dict(color=colours.get(row.change, NEUTRAL)), hovertext=f"{row.title}: {row.change}",
                        showlegend=False)
    fig.update_layout(title=f"How the top {k} moved (rank {k + 1} = out of the list)", height=HEIGHT,
                      yaxis=dict(autorange="reversed", title="rank", dtick=1), margin=dict(t=50, b=10))
    return fig


def fidelity_chart(table: pd.DataFrame) -> go.Figure:
    """Deletion test per method: mean score drop, top-attributed vs random removal."""
    long = table.melt(id_vars=["method"], value_vars=["mean_drop_top", "mean_drop_random"],
                      var_name="removed", value_name="mean score drop")
    long["removed"] = long["removed"].map({"mean_drop_top": "top-attributed", "mean_drop_random": "random"})
    fig = px.bar(long, x="method", y="mean score drop", color="removed", barmode="group", height=HEIGHT - 60,
                 title="Deletion test: score drop when removing the top-attributed vs a random unit")
    fig.update_layout(margin=dict(t=50, b=10), legend_title_text="")
    return fig

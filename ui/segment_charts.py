"""Plotly figures for the Segments page: affinity distribution, composition vs base, overlap, lift."""

from __future__ import annotations

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

HEIGHT = 340


def score_distribution(hist: pd.DataFrame, affinity_mode: str) -> go.Figure:
    """Eligible customers by affinity, with the segment's members highlighted."""
    centers = (hist["bin_left"] + hist["bin_right"]) / 2
    width = float((hist["bin_right"] - hist["bin_left"]).median()) if len(hist) else 1.0
    label = "rank of the best target item" if affinity_mode == "rank" else f"{affinity_mode} target score"
    figure = go.Figure([
        go.Bar(x=centers, y=hist["n_pool"] - hist["n_members"], width=width, name="eligible, not in segment",
               marker_color="#c7cdd6"),
        go.Bar(x=centers, y=hist["n_members"], width=width, name="in segment", marker_color="#2f6fde"),
    ])
    figure.update_layout(barmode="stack", height=HEIGHT, title="Affinity of eligible customers",
                         xaxis_title=label, yaxis_title="customers", legend_orientation="h",
                         margin=dict(t=50, b=40))
    return figure


def composition(table: pd.DataFrame, attribute: str) -> go.Figure:
    """Share of each attribute value in the segment next to its share of the whole base."""
    rows = table[table["attribute"] == attribute]
    long = rows.melt(id_vars=["value", "index"], value_vars=["segment_share", "base_share"], var_name="who",
                     value_name="share")
    long["who"] = long["who"].map({"segment_share": "segment", "base_share": "all customers"})
    figure = px.bar(long, x="value", y="share", color="who", barmode="group", height=HEIGHT,
                    hover_data={"index": ":.0f"}, title=f"Composition by {attribute} (index 100 = same as base)",
                    color_discrete_map={"segment": "#2f6fde", "all customers": "#c7cdd6"})
    figure.update_layout(yaxis_tickformat=".0%", xaxis_title=attribute, legend_title=None, margin=dict(t=50, b=40))
    return figure


def overlap(matrix: pd.DataFrame) -> go.Figure:
    """Customers shared by each pair of segments (diagonal: segment sizes)."""
    figure = px.imshow(matrix, text_auto=True, color_continuous_scale="Blues", aspect="auto", height=HEIGHT,
                       title="Customers in both segments", labels={"color": "customers"})
    figure.update_layout(margin=dict(t=50, b=40))
    return figure


def lift(result: dict) -> go.Figure:
    """Engagement rate of the segment against random same-size segments from the same pool."""
    baseline = result["baseline_rate"]
    figure = go.Figure(go.Bar(
        x=["segment", "random segment (expected)"], y=[result["segment_rate"], baseline],
        marker_color=["#2f6fde", "#c7cdd6"],
        error_y=dict(type="data", symmetric=False, array=[0, baseline * result["random_high"]],
                     arrayminus=[0, -baseline * result["random_low"]])))
    figure.update_layout(height=HEIGHT, yaxis_tickformat=".1%", yaxis_title="engaged with the target",
                         title=f"Held-out lift {result['lift']:+.0%}", margin=dict(t=50, b=40))
    return figure

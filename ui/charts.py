"""Plotly renderers for the data profile (pure functions returning figures)."""

from __future__ import annotations

import plotly.express as px
import plotly.graph_objects as go

from recsys.data.profile import DataProfile

HEIGHT = 320


def events_over_time(profile: DataProfile) -> go.Figure | None:
    if profile.events_over_time is None:
        return None
    fig = px.area(profile.events_over_time, x="period", y="events", color="event_type",
                  title="Events over time by type", height=HEIGHT)
    fig.update_layout(legend_title_text="", margin=dict(t=50, b=10))
    return fig


def long_tail(profile: DataProfile) -> go.Figure:
    frame = profile.item_popularity
    fig = go.Figure()
    fig.add_bar(x=frame["rank"], y=frame["events"], name="events per item", marker_color="#2E6FD8")
    fig.add_scatter(x=frame["rank"], y=frame["share_cumulative"], name="cumulative share",
                    yaxis="y2", line=dict(color="#E4572E"))
    fig.update_layout(title="Item popularity: the long tail", height=HEIGHT, xaxis_title="item rank",
                      yaxis=dict(title="events", type="log", dtick=1),
                      yaxis2=dict(title="cumulative share", overlaying="y", side="right", range=[0, 1]),
                      legend=dict(orientation="h", y=-0.25), margin=dict(t=50, b=10))
    return fig


def customer_activity(profile: DataProfile) -> go.Figure:
    fig = px.bar(profile.user_activity, x="events", y="customers", log_y=True, height=HEIGHT,
                 title="Customer activity: how many customers have n events")
    fig.update_layout(margin=dict(t=50, b=10), yaxis_dtick=1)
    return fig


def category_mix(profile: DataProfile) -> go.Figure | None:
    if profile.category_mix is None:
        return None
    frame = profile.category_mix.melt(id_vars="category", value_vars=["items", "events"],
                                      var_name="measure", value_name="count")
    frame["share"] = frame["count"] / frame.groupby("measure")["count"].transform("sum")
    fig = px.bar(frame, x="category", y="share", color="measure", barmode="group", height=HEIGHT,
                 title="Category mix: share of catalog vs share of events")
    fig.update_layout(yaxis_tickformat=".0%", legend_title_text="", margin=dict(t=50, b=10))
    return fig


def attribute_breakdown(attribute: str, frame) -> go.Figure:
    """Share of customers and share of events per attribute value (comparable on one axis)."""
    shares = frame.assign(customers=frame["customers"] / frame["customers"].sum(),
                          events=frame["events"] / max(frame["events"].sum(), 1))
    fig = px.bar(shares, x="value", y=["customers", "events"], barmode="group", height=HEIGHT - 40,
                 title=f"{attribute}: share of customers, events")
    fig.update_layout(legend_title_text="", xaxis_title=attribute, yaxis_title="share",
                      yaxis_tickformat=".0%", margin=dict(t=50, b=10))
    return fig

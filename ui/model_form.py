"""Hyper-parameter forms built from the registry's ParamSpecs."""

from __future__ import annotations

import streamlit as st

from recsys.models.registry import ModelSpec, ParamSpec


def param_widget(spec: ParamSpec, *, key: str):
    """One input widget for ``spec``, with its default and help."""
    if spec.kind == "bool":
        return st.checkbox(spec.name, value=bool(spec.default), help=spec.help, key=key)
    if spec.kind == "choice":
        choices = list(spec.choices)
        return st.selectbox(spec.name, choices, index=choices.index(spec.default), help=spec.help, key=key)
    if spec.kind == "int":
        return int(st.number_input(spec.name, value=int(spec.default), step=1, help=spec.help, key=key,
                                   min_value=int(spec.low) if spec.low is not None else None,
                                   max_value=int(spec.high) if spec.high is not None else None))
    return float(st.number_input(spec.name, value=float(spec.default), help=spec.help, key=key, format="%g",
                                 min_value=float(spec.low) if spec.low is not None else None,
                                 max_value=float(spec.high) if spec.high is not None else None))


def model_params_form(model: ModelSpec, *, key: str) -> dict:
    """All parameters of ``model`` in a compact grid; returns the chosen values."""
    values = {}
    if not model.params:
        st.caption("This model has no hyper-parameters.")
        return values
    columns = st.columns(3)
    for i, spec in enumerate(model.params):
        with columns[i % 3]:
            values[spec.name] = param_widget(spec, key=f"{key}-{model.key}-{spec.name}")
    return values

"""The Explanation record: one shape for every method, every renderer and the CLI (SHAP's idea).

``contributions`` has one row per explained unit with at least ``feature`` (a label:
an item id, a field or group name) and ``value``; history-based methods add
``item_idx``, ``item_id``, ``title``, ``category`` (and ``position`` for sequences),
feature-based ones ``group``. ``kind`` in ``meta`` says which ("history_items",
"attention", "features", "groups").
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from recsys.data.dataset import Dataset

LABEL_COLUMNS = ("title", "category")


@dataclass(frozen=True)
class Explanation:
    """Why ``item`` is scored as it is for ``user`` by one method.

    Attributes
    ----------
    user, item : str
        Raw ids; ``user_idx`` and ``item_idx`` are the model's indices.
    method : str
        "exact", "attention", "captum" or "shap".
    model : str
        Registry key of the explained model.
    score : float
        The model's score of the item for the user (its logit for neural models).
    base_value : float
        What the contributions start from: 0 for exact decompositions, F(baseline)
        for Captum, the mean output over the background for SHAP, NaN for attention
        (weights are not contributions).
    contributions : DataFrame
        One row per unit (see the module docstring), largest ``|value|`` first.
    meta : dict
        JSON-safe: parameters, compute time (``seconds``), ``caveats`` (list of str)
        and method-specific checks (``residual``, ``delta``...).
    """

    user: str
    item: str
    user_idx: int
    item_idx: int
    method: str
    model: str
    score: float
    base_value: float
    contributions: pd.DataFrame
    meta: dict = field(default_factory=dict)

    @property
    def total(self) -> float:
        """``base_value`` plus the sum of the contributions (equals ``score`` for additive methods)."""
        base = 0.0 if math.isnan(self.base_value) else self.base_value
        return base + float(self.contributions["value"].sum()) if len(self.contributions) else base

    @property
    def kind(self) -> str:
        return str(self.meta.get("kind", ""))

    @property
    def caveats(self) -> list[str]:
        return list(self.meta.get("caveats", []))

    def top(self, n: int = 10, *, positive_only: bool = False) -> pd.DataFrame:
        """The ``n`` largest contributions by ``|value|`` (or by value when ``positive_only``)."""
        frame = self.contributions
        if positive_only:
            return frame[frame["value"] > 0].sort_values("value", ascending=False).head(n)
        return frame.reindex(frame["value"].abs().sort_values(ascending=False).index).head(n)

    def to_dict(self) -> dict:
        frame = self.contributions
        return {"user": self.user, "item": self.item, "user_idx": self.user_idx, "item_idx": self.item_idx,
                "method": self.method, "model": self.model, "score": _safe(self.score),
                "base_value": _safe(self.base_value),
                "contributions": {"columns": [str(c) for c in frame.columns],
                                  "data": {str(c): _safe(frame[c].tolist()) for c in frame.columns}},
                "meta": _safe(self.meta)}

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False)

    @classmethod
    def from_dict(cls, d: dict) -> "Explanation":
        table = d["contributions"]
        frame = pd.DataFrame({c: table["data"][c] for c in table["columns"]}, columns=table["columns"])
        if "value" in frame:
            frame["value"] = pd.to_numeric(frame["value"]).astype(np.float64)
        return cls(user=str(d["user"]), item=str(d["item"]), user_idx=int(d["user_idx"]),
                   item_idx=int(d["item_idx"]), method=d["method"], model=d["model"],
                   score=_num(d["score"]), base_value=_num(d["base_value"]), contributions=frame,
                   meta=dict(d.get("meta") or {}))

    @classmethod
    def from_json(cls, text: str) -> "Explanation":
        return cls.from_dict(json.loads(text))


def item_labels(data: Dataset, item_idx) -> pd.DataFrame:
    """``item_id``, ``title`` and ``category`` of ``item_idx`` (title falls back to the id)."""
    idx = np.asarray(item_idx, dtype=np.int64).ravel()
    ids = data.items.to_raw(idx).astype(str) if len(idx) else np.zeros(0, dtype=object)
    out = pd.DataFrame({"item_id": ids})
    features = data.item_features
    for col in LABEL_COLUMNS:
        if features is not None and col in features:
            values = features[col].to_numpy(dtype=object)[idx]
            out[col] = [str(v) if _present(v) else None for v in values]
        else:
            out[col] = None
    out["title"] = out["title"].where(out["title"].notna(), out["item_id"])
    return out


def history_frame(data: Dataset, item_idx, values, **extra) -> pd.DataFrame:
    """A contributions frame over history items: labels, ``item_idx``, ``value`` and ``extra`` columns."""
    idx = np.asarray(item_idx, dtype=np.int64).ravel()
    labels = item_labels(data, idx)
    frame = pd.DataFrame({"feature": labels["item_id"], "value": np.asarray(values, np.float64).ravel(),
                          "item_idx": idx, "item_id": labels["item_id"], "title": labels["title"],
                          "category": labels["category"]})
    for name, column in extra.items():
        frame[name] = np.asarray(column)
    return sort_by_magnitude(frame)


def sort_by_magnitude(frame: pd.DataFrame) -> pd.DataFrame:
    order = np.argsort(-np.abs(frame["value"].to_numpy(np.float64)), kind="stable")
    return frame.iloc[order].reset_index(drop=True)


def _present(v: Any) -> bool:
    return v is not None and v is not pd.NA and not (isinstance(v, float) and math.isnan(v))


def _num(v: Any) -> float:
    return float("nan") if v is None else float(v)


def _safe(value: Any) -> Any:
    """Plain JSON values: numpy unwrapped, NaN/inf as None, tuples as lists."""
    if isinstance(value, dict):
        return {str(k): _safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_safe(v) for v in value]
    if isinstance(value, np.ndarray):
        return _safe(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or value is pd.NA or isinstance(value, (bool, int, float, str)):
        return None if value is pd.NA else value
    return str(value)

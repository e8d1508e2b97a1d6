"""Feature engineering for the feature-aware models: named feature groups, encoders, context.

Every categorical value maps to an index ``1..n`` of a ``Vocabulary``; index 0 means
"unknown" (missing, or never seen in training), so any group can be replaced by an
all-zeros baseline. Encoders are plain lists/floats (JSON) and numpy arrays, never
pickled objects, so a saved model reloads without executing code.

Groups and the tensors ``FeatureEncoder.encode`` returns for ``n`` (user, item,
context) rows:

==============  =========  =================  ==========================================
group           dtype      shape              columns
==============  =========  =================  ==========================================
collaborative   int64      (n, 2)             user id code, item id code (0: no events)
customer        int64      (n, n_user_cols)   one code per user attribute
item            int64      (n, n_item_cols    one code per item attribute, then the
                           + max_tags)        item's tag codes padded with 0
text            float32    (n, text_dim)      TF-IDF -> truncated SVD, rows L2-normalised
context         int64      (n, n_ctx_cols)    device, channel, ..., daypart, weekday
==============  =========  =================  ==========================================

Groups without any column in the data are left out (see ``FeatureEncoder.groups``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from recsys.data.dataset import Dataset

GROUPS = ("collaborative", "customer", "item", "text", "context")

#: Columns never used as features: ids, free text handled elsewhere, personal data.
ITEM_SKIP = {"item_id", "title", "description", "tags", "image_path", "url"}
USER_SKIP = {"user_id", "email", "phone", "name", "first_name", "last_name", "full_name",
             "address", "street", "postcode", "zip", "ip", "ip_address"}

MAX_CATEGORIES = 1000
MAX_CONTEXT_CATEGORIES = 200
MAX_TAGS_PER_ITEM = 8
MAX_TAG_VOCABULARY = 2000
NUMERIC_BUCKETS = 8
MAX_TEXT_TERMS = 20_000

#: Parts of the day (hour -> label); conventional marketing dayparts, in the data's clock.
DAYPARTS = ("night",) * 6 + ("morning",) * 5 + ("midday",) * 4 + ("afternoon",) * 3 + ("evening",) * 6
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
SECONDS_PER_HOUR, SECONDS_PER_DAY = 3600, 86_400
# 1970-01-01 was a Thursday (weekday 3 with Monday = 0).
_EPOCH_WEEKDAY = 3


@dataclass(frozen=True)
class Field:
    """One input field: ``kind`` "categorical" (one column), "bag" (``width`` padded codes,
    averaged) or "dense" (``width`` floats); ``size`` is the number of codes including
    the unknown 0 (or the dense width); ``side`` is "user" or "item"."""

    name: str
    group: str
    kind: str
    size: int
    width: int
    side: str

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Field":
        return cls(**{k: d[k] for k in ("name", "group", "kind", "size", "width", "side")})


class Vocabulary:
    """Categorical values -> codes ``1..n`` (most frequent first); 0 is unknown or missing."""

    def __init__(self, values: Sequence[str]):
        self.values = [str(v) for v in values]
        self._index = pd.Index(self.values)

    @classmethod
    def build(cls, values, *, max_size: int = MAX_CATEGORIES) -> "Vocabulary":
        clean = _clean(values).dropna()
        counts = clean.value_counts()
        # Ties broken by value so the vocabulary does not depend on row order.
        ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:max_size]
        return cls([v for v, _ in ordered])

    def __len__(self) -> int:
        """Number of codes including the unknown 0."""
        return len(self.values) + 1

    def encode(self, values) -> np.ndarray:
        clean = _clean(values)
        codes = self._index.get_indexer(clean.fillna("").to_numpy(dtype=object)) + 1
        codes[clean.isna().to_numpy()] = 0
        return codes.astype(np.int64)

    def decode(self, codes) -> list[str | None]:
        return [self.values[c - 1] if c > 0 else None for c in np.asarray(codes, np.int64).ravel()]

    def to_json(self) -> dict:
        return {"type": "vocabulary", "values": self.values}


class NumericBuckets:
    """Numbers -> quantile-bucket codes ``1..len(edges)+1``; 0 is missing."""

    def __init__(self, edges: Sequence[float]):
        self.edges = np.asarray(edges, np.float64)

    @classmethod
    def build(cls, values, *, n_buckets: int = NUMERIC_BUCKETS) -> "NumericBuckets":
        x = pd.to_numeric(pd.Series(values), errors="coerce").dropna().to_numpy(np.float64)
        if len(x) == 0:
            return cls([])
        qs = np.quantile(x, np.linspace(0, 1, n_buckets + 1)[1:-1])
        return cls(np.unique(qs))

    def __len__(self) -> int:
        return len(self.edges) + 2

    def encode(self, values) -> np.ndarray:
        x = pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(np.float64)
        codes = 1 + np.searchsorted(self.edges, np.nan_to_num(x), side="right")
        codes[np.isnan(x)] = 0
        return codes.astype(np.int64)

    def decode(self, codes) -> list[str | None]:
        e = self.edges
        out: list[str | None] = []
        for c in np.asarray(codes, np.int64).ravel():
            if c == 0:
                out.append(None)
            elif len(e) == 0:
                out.append("any")
            elif c == 1:
                out.append(f"< {e[0]:g}")
            elif c == len(e) + 1:
                out.append(f">= {e[-1]:g}")
            else:
                out.append(f"[{e[c - 2]:g}, {e[c - 1]:g})")
        return out

    def to_json(self) -> dict:
        return {"type": "buckets", "edges": [float(v) for v in self.edges]}


def encoder_from_json(d: Mapping[str, Any]) -> Vocabulary | NumericBuckets:
    return Vocabulary(d["values"]) if d["type"] == "vocabulary" else NumericBuckets(d["edges"])


class TextEncoder:
    """Item text -> TF-IDF (sublinear tf, L2) -> truncated SVD -> L2-normalised rows.

    Kept as arrays (terms, idf, SVD components) so new texts can be transformed after a
    reload; the transform is computed here, identically for fitting and later use.
    """

    def __init__(self, terms: Sequence[str], idf: np.ndarray, components: np.ndarray):
        self.terms = list(terms)
        self.idf = np.asarray(idf, np.float32)
        self.components = np.asarray(components, np.float32)

    @property
    def dim(self) -> int:
        return int(self.components.shape[0])

    @classmethod
    def fit(cls, texts: Sequence[str], dim: int, *, seed: int = 0) -> "TextEncoder | None":
        """None when there is too little text for ``dim >= 2`` components."""
        from sklearn.decomposition import TruncatedSVD
        from sklearn.feature_extraction.text import TfidfVectorizer

        texts = [t for t in texts if t.strip()]
        if dim < 2 or len(texts) < 3:
            return None
        vectorizer = TfidfVectorizer(max_features=MAX_TEXT_TERMS, sublinear_tf=True, stop_words="english")
        try:
            vectorizer.fit(texts)
        except ValueError:  # empty vocabulary (only stop words)
            return None
        terms = vectorizer.get_feature_names_out().tolist()
        k = min(dim, len(terms) - 1, len(texts) - 1)
        if k < 2:
            return None
        partial = cls(terms, vectorizer.idf_, np.zeros((0, len(terms)), np.float32))
        svd = TruncatedSVD(n_components=k, random_state=seed).fit(partial._tfidf(texts))
        return cls(terms, vectorizer.idf_, svd.components_)

    def _tfidf(self, texts: Sequence[str]):
        from sklearn.feature_extraction.text import CountVectorizer
        from sklearn.preprocessing import normalize

        counts = CountVectorizer(vocabulary=self.terms, stop_words="english").transform(list(texts))
        counts = counts.astype(np.float32)
        counts.data = 1.0 + np.log(counts.data)
        return normalize(counts.multiply(self.idf[None, :]).tocsr(), norm="l2")

    def transform(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts), dim) float32; empty or unknown-word texts give zero rows."""
        from sklearn.preprocessing import normalize

        z = np.asarray(self._tfidf(texts) @ self.components.T, np.float32)
        return normalize(z, norm="l2").astype(np.float32)

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {"text_idf": self.idf, "text_components": self.components}


@dataclass(frozen=True)
class ContextSpec:
    """One context field: where it comes from ("column", "hour" or "weekday") and its vocabulary."""

    name: str
    source: str
    vocabulary: Vocabulary


class FeatureEncoder:
    """Fitted encoders plus the per-user and per-item code tables of one training set.

    Build with ``FeatureEncoder.fit(train)``. ``encode(users, items, context)`` gives
    the group arrays (see the module docstring); ``context_codes`` turns a context
    dict into codes; ``to_state``/``from_state`` round-trip through JSON + arrays.

    Attributes
    ----------
    user_columns, item_columns : dict of column -> Vocabulary or NumericBuckets
    tags : Vocabulary or None
    text : TextEncoder or None
    context : list of ContextSpec
    user_codes : (n_users, n_user_cols) int64;  item_codes : (n_items, n_item_cols + max_tags)
    item_text : (n_items, text_dim) float32
    user_ids, item_ids : id codes, ``idx + 1`` for users/items with training events, else 0
    default_context : (n_users, n_ctx) int64, each user's most frequent value per field
    """

    def __init__(self, *, user_columns, item_columns, tags, max_tags, text, context, arrays):
        self.user_columns: dict[str, Vocabulary | NumericBuckets] = dict(user_columns)
        self.item_columns: dict[str, Vocabulary | NumericBuckets] = dict(item_columns)
        self.tags: Vocabulary | None = tags
        self.max_tags = int(max_tags)
        self.text: TextEncoder | None = text
        self.context: list[ContextSpec] = list(context)
        self.user_codes = arrays["user_codes"]
        self.item_codes = arrays["item_codes"]
        self.item_text = arrays["item_text"]
        self.user_ids = arrays["user_ids"]
        self.item_ids = arrays["item_ids"]
        self.default_context = arrays["default_context"]

    # ----- fitting -------------------------------------------------------------
    @classmethod
    def fit(cls, train: Dataset, *, text_dim: int = 32, seed: int = 0) -> "FeatureEncoder":
        frame = train.frame
        user_active = np.bincount(frame["user_idx"].to_numpy(), minlength=train.n_users) > 0
        item_active = np.bincount(frame["item_idx"].to_numpy(), minlength=train.n_items) > 0
        users, items = train.user_features, train.item_features
        # Vocabularies come from users/items with events: a value seen only on cold rows
        # would get an embedding that training never moves.
        user_columns = _attribute_encoders(users, USER_SKIP, user_active)
        item_columns = _attribute_encoders(items, ITEM_SKIP, item_active)
        tags, max_tags = None, 0
        if items is not None and "tags" in items:
            tag_lists = _split_tags(items["tags"])
            active_tags = [t for lst, a in zip(tag_lists, item_active) if a for t in lst]
            if active_tags:
                tags = Vocabulary.build(active_tags, max_size=MAX_TAG_VOCABULARY)
                max_tags = min(MAX_TAGS_PER_ITEM, max(len(t) for t in tag_lists))
        text = None
        if items is not None and text_dim >= 2:
            text = TextEncoder.fit(_item_texts(items), int(text_dim), seed=seed)
        context = _context_specs(train)
        enc = cls(user_columns=user_columns, item_columns=item_columns, tags=tags, max_tags=max_tags,
                  text=text, context=context, arrays=_empty_arrays(train.n_users, train.n_items))
        enc.user_codes = enc._table_codes(users, enc.user_columns, train.n_users)
        item_codes = enc._table_codes(items, enc.item_columns, train.n_items)
        enc.item_codes = np.hstack([item_codes, enc._tag_codes(items, train.n_items)])
        enc.item_text = (text.transform(_item_texts(items)) if text is not None
                         else np.zeros((train.n_items, 0), np.float32))
        enc.user_ids = np.where(user_active, np.arange(1, train.n_users + 1), 0).astype(np.int64)
        enc.item_ids = np.where(item_active, np.arange(1, train.n_items + 1), 0).astype(np.int64)
        enc.default_context = _modal_rows(frame["user_idx"].to_numpy(), enc.event_context(frame), train.n_users)
        return enc

    def _table_codes(self, table: pd.DataFrame | None, encoders: dict, n: int) -> np.ndarray:
        out = np.zeros((n, len(encoders)), np.int64)
        for j, (col, encoder) in enumerate(encoders.items()):
            out[:, j] = encoder.encode(table[col].to_numpy())
        return out

    def _tag_codes(self, items: pd.DataFrame | None, n: int) -> np.ndarray:
        out = np.zeros((n, self.max_tags), np.int64)
        if self.tags is None or self.max_tags == 0:
            return out
        lists = _split_tags(items["tags"])
        flat = self.tags.encode([t for lst in lists for t in lst])
        rows = np.repeat(np.arange(n), [len(lst) for lst in lists])
        keep = flat > 0
        rows, flat = rows[keep], flat[keep]
        # Position of each kept tag within its item's list; tags past max_tags are dropped.
        starts = np.searchsorted(rows, np.arange(n))
        pos = np.arange(len(rows)) - starts[rows]
        fits = pos < self.max_tags
        out[rows[fits], pos[fits]] = flat[fits]
        return out

    # ----- description -----------------------------------------------------------
    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    def fields(self) -> list[Field]:
        """Input fields in group order; the order of the network's embeddings."""
        out = [Field("user_id", "collaborative", "categorical", self.n_users + 1, 1, "user"),
               Field("item_id", "collaborative", "categorical", self.n_items + 1, 1, "item")]
        out += [Field(c, "customer", "categorical", len(e), 1, "user") for c, e in self.user_columns.items()]
        out += [Field(c, "item", "categorical", len(e), 1, "item") for c, e in self.item_columns.items()]
        if self.tags is not None and self.max_tags:
            out.append(Field("tags", "item", "bag", len(self.tags), self.max_tags, "item"))
        if self.text is not None:
            out.append(Field("text", "text", "dense", self.text.dim, self.text.dim, "item"))
        out += [Field(s.name, "context", "categorical", len(s.vocabulary), 1, "user") for s in self.context]
        return out

    def groups(self) -> list[str]:
        """Names of the groups this encoder produces, in ``GROUPS`` order."""
        present = {f.group for f in self.fields()}
        return [g for g in GROUPS if g in present]

    def context_fields(self) -> dict[str, list[str]]:
        """Context field -> its known values (what ``context`` dicts may say)."""
        return {s.name: list(s.vocabulary.values) for s in self.context}

    def decode(self, group: str, row) -> dict[str, Any]:
        """Human-readable values of one row of a group array (None for unknown)."""
        row = np.asarray(row)
        if group == "collaborative":
            return {"user_id": int(row[0]) - 1 if row[0] > 0 else None,
                    "item_id": int(row[1]) - 1 if row[1] > 0 else None}
        if group == "customer":
            return {c: e.decode([row[j]])[0] for j, (c, e) in enumerate(self.user_columns.items())}
        if group == "item":
            out = {c: e.decode([row[j]])[0] for j, (c, e) in enumerate(self.item_columns.items())}
            if self.tags is not None:
                out["tags"] = [t for t in self.tags.decode(row[len(self.item_columns):]) if t is not None]
            return out
        if group == "context":
            return {s.name: s.vocabulary.decode([row[j]])[0] for j, s in enumerate(self.context)}
        if group == "text":
            return {"text": row.astype(float).tolist()}
        raise KeyError(f"unknown group {group!r}")

    # ----- encoding --------------------------------------------------------------
    def event_context(self, frame: pd.DataFrame) -> np.ndarray:
        """(len(frame), n_ctx) codes of the context of each event."""
        out = np.zeros((len(frame), len(self.context)), np.int64)
        ts = frame["timestamp"].to_numpy(np.int64) if "timestamp" in frame else None
        for j, spec in enumerate(self.context):
            if spec.source == "column":
                if spec.name in frame:
                    out[:, j] = spec.vocabulary.encode(frame[spec.name].to_numpy())
            elif ts is not None:
                labels = _hour_labels(ts) if spec.source == "hour" else _weekday_labels(ts)
                out[:, j] = spec.vocabulary.encode(labels)
        return out

    def context_codes(self, context: Mapping[str, Any] | None, users) -> np.ndarray:
        """(len(users), n_ctx) codes for an explicit context, or each user's default.

        ``context`` keys are context field names (raw values, e.g. ``"device": "mobile"``)
        plus ``"hour"`` (0-23, mapped to its daypart) and ``"weekday"`` (0-6 with Monday 0,
        or "Mon".."Sun"). A value is a scalar (broadcast) or one value per user. Missing
        keys and unseen values are unknown (0); keys that are not context fields here
        (e.g. a column this data lacks) are ignored. ``None`` uses ``default_context``.
        """
        users = np.atleast_1d(np.asarray(users, np.int64))
        if context is None:
            return self.default_context[users].copy()
        out = np.zeros((len(users), len(self.context)), np.int64)
        for j, spec in enumerate(self.context):
            value = _context_value(context, spec)
            if value is _MISSING:
                continue
            values = np.broadcast_to(np.asarray(value, dtype=object), (len(users),))
            out[:, j] = spec.vocabulary.encode(values)
        return out

    def user_group_arrays(self, users, context_codes: np.ndarray) -> dict[str, np.ndarray]:
        """User-side group arrays (the item columns of "collaborative" are 0)."""
        users = np.asarray(users, np.int64)
        ids = np.zeros((len(users), 2), np.int64)
        ids[:, 0] = self.user_ids[users]
        return self._only_present({"collaborative": ids, "customer": self.user_codes[users],
                                   "context": np.asarray(context_codes, np.int64)})

    def item_group_arrays(self, items) -> dict[str, np.ndarray]:
        """Item-side group arrays (the user column of "collaborative" is 0)."""
        items = np.asarray(items, np.int64)
        ids = np.zeros((len(items), 2), np.int64)
        ids[:, 1] = self.item_ids[items]
        return self._only_present({"collaborative": ids, "item": self.item_codes[items],
                                   "text": self.item_text[items]})

    def encode(self, users, items, context: Mapping[str, Any] | None = None) -> dict[str, np.ndarray]:
        """Group arrays for (user, item) rows; ``users``/``items`` are broadcast against each
        other, then flattened (row-major), e.g. users ``(n, 1)`` x items ``(n, m)`` gives n*m rows.

        ``context`` as in ``context_codes`` (per-row values allowed); None means each
        row's user default context.
        """
        users, items = (a.ravel() for a in np.broadcast_arrays(np.atleast_1d(np.asarray(users, np.int64)),
                                                               np.atleast_1d(np.asarray(items, np.int64))))
        user_side = self.user_group_arrays(users, self.context_codes(context, users))
        item_side = self.item_group_arrays(items)
        out = {**user_side, **item_side}
        out["collaborative"] = user_side["collaborative"] + item_side["collaborative"]
        return {g: out[g] for g in self.groups()}

    def encode_user_attributes(self, attributes: pd.DataFrame) -> np.ndarray:
        """Customer codes (len(attributes), n_user_cols) of new users described by a frame."""
        out = np.zeros((len(attributes), len(self.user_columns)), np.int64)
        for j, (col, encoder) in enumerate(self.user_columns.items()):
            if col in attributes:
                out[:, j] = encoder.encode(attributes[col].to_numpy())
        return out

    def _only_present(self, groups: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        present = set(self.groups())
        return {g: v for g, v in groups.items() if g in present}

    # ----- persistence -------------------------------------------------------------
    def to_state(self) -> tuple[dict, dict[str, np.ndarray]]:
        """(JSON-safe description, numpy arrays) for ``from_state``."""
        config = {
            "user_columns": {c: e.to_json() for c, e in self.user_columns.items()},
            "item_columns": {c: e.to_json() for c, e in self.item_columns.items()},
            "tags": self.tags.to_json() if self.tags is not None else None,
            "max_tags": self.max_tags,
            "text_terms": self.text.terms if self.text is not None else None,
            "context": [{"name": s.name, "source": s.source, "vocabulary": s.vocabulary.to_json()}
                        for s in self.context],
        }
        arrays = {"user_codes": self.user_codes, "item_codes": self.item_codes, "item_text": self.item_text,
                  "user_ids": self.user_ids, "item_ids": self.item_ids, "default_context": self.default_context}
        if self.text is not None:
            arrays.update(self.text.to_arrays())
        return config, arrays

    @classmethod
    def from_state(cls, config: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> "FeatureEncoder":
        text = None
        if config.get("text_terms") is not None:
            text = TextEncoder(config["text_terms"], arrays["text_idf"], arrays["text_components"])
        return cls(
            user_columns={c: encoder_from_json(d) for c, d in config["user_columns"].items()},
            item_columns={c: encoder_from_json(d) for c, d in config["item_columns"].items()},
            tags=Vocabulary(config["tags"]["values"]) if config.get("tags") else None,
            max_tags=config["max_tags"], text=text,
            context=[ContextSpec(s["name"], s["source"], Vocabulary(s["vocabulary"]["values"]))
                     for s in config["context"]],
            arrays={k: np.asarray(arrays[k]) for k in ("user_codes", "item_codes", "item_text",
                                                        "user_ids", "item_ids", "default_context")},
        )


# ----- helpers ------------------------------------------------------------------------

_MISSING = object()


def _clean(values) -> pd.Series:
    """Values as stripped strings, NA (and empty strings) as NA."""
    s = pd.Series(np.asarray(values, dtype=object).ravel(), dtype=object)
    na = s.isna().to_numpy()
    out = s.astype(str).str.strip()
    out[na | (out == "").to_numpy()] = None
    return out.astype(object)


def _attribute_encoders(table: pd.DataFrame | None, skip: set[str],
                        active: np.ndarray) -> dict[str, Vocabulary | NumericBuckets]:
    """Encoders of the usable attribute columns: low-cardinality text -> vocabulary,
    numbers -> quantile buckets; dates, ids, free text and personal data are skipped."""
    if table is None:
        return {}
    rows = table.loc[active[: len(table)]] if len(active) == len(table) else table
    out: dict[str, Vocabulary | NumericBuckets] = {}
    for col in table.columns:
        if str(col).lower() in skip or pd.api.types.is_datetime64_any_dtype(table[col]):
            continue
        values = rows[col]
        if pd.api.types.is_bool_dtype(values):
            values = values.astype(str)
        if pd.api.types.is_numeric_dtype(values):
            buckets = NumericBuckets.build(values)
            if len(buckets.edges):
                out[col] = buckets
            continue
        n_unique = values.nunique(dropna=True)
        # Near-unique text (names, emails, free text) identifies rows instead of grouping them.
        if 2 <= n_unique <= MAX_CATEGORIES and n_unique <= max(10, 0.5 * values.notna().sum()):
            out[col] = Vocabulary.build(values)
    return out


def _split_tags(tags: pd.Series) -> list[list[str]]:
    out = []
    for value in tags.to_numpy(dtype=object):
        if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
            out.append([])
        else:
            out.append([t.strip() for t in str(value).split("|") if t.strip()])
    return out


def _item_texts(items: pd.DataFrame) -> list[str]:
    parts = [items[c].fillna("").astype(str) for c in ("title", "description") if c in items]
    if not parts:
        return [""] * len(items)
    text = parts[0]
    for p in parts[1:]:
        text = text + " " + p
    return text.tolist()


def _context_specs(train: Dataset) -> list[ContextSpec]:
    frame = train.frame
    specs = []
    for col in train.context_columns:
        values = frame[col]
        if pd.api.types.is_numeric_dtype(values) or pd.api.types.is_datetime64_any_dtype(values):
            continue
        if 2 <= values.nunique(dropna=True) <= MAX_CONTEXT_CATEGORIES:
            specs.append(ContextSpec(str(col), "column", Vocabulary.build(values, max_size=MAX_CONTEXT_CATEGORIES)))
    if train.has_timestamps and len(frame):
        ts = frame["timestamp"].to_numpy(np.int64)
        # Fixed label order (not by frequency) so codes read naturally.
        present_parts = set(_hour_labels(ts))
        specs.append(ContextSpec("daypart", "hour", Vocabulary([p for p in dict.fromkeys(DAYPARTS)
                                                                if p in present_parts])))
        present_days = set(_weekday_labels(ts))
        specs.append(ContextSpec("weekday", "weekday", Vocabulary([d for d in WEEKDAYS if d in present_days])))
    return specs


def _hour_labels(ts: np.ndarray) -> np.ndarray:
    return np.asarray(DAYPARTS, dtype=object)[(ts // SECONDS_PER_HOUR) % 24]


def _weekday_labels(ts: np.ndarray) -> np.ndarray:
    return np.asarray(WEEKDAYS, dtype=object)[(ts // SECONDS_PER_DAY + _EPOCH_WEEKDAY) % 7]


def _context_value(context: Mapping[str, Any], spec: ContextSpec):
    """The raw label a context dict gives for ``spec``, or ``_MISSING``."""
    if spec.name in context:
        value = context[spec.name]
        if spec.source == "weekday":
            return _weekday_name(value)
        return value
    if spec.source == "hour" and "hour" in context:
        hours = pd.to_numeric(pd.Series(np.atleast_1d(np.asarray(context["hour"], dtype=object))),
                              errors="coerce").to_numpy(np.float64)
        valid = np.isfinite(hours) & (hours >= 0) & (hours < 24)
        labels = np.asarray(DAYPARTS + (None,), dtype=object)[np.where(valid, np.nan_to_num(hours), 24).astype(np.int64)]
        return labels if np.ndim(context["hour"]) else labels[0]
    return _MISSING


def _weekday_name(value):
    values = np.asarray(value, dtype=object)
    out = np.empty(values.shape, dtype=object)
    for pos, v in np.ndenumerate(values):
        if isinstance(v, (int, np.integer)) and 0 <= int(v) < 7:
            out[pos] = WEEKDAYS[int(v)]
        elif isinstance(v, str) and v[:3].title() in WEEKDAYS:
            out[pos] = v[:3].title()
        else:
            out[pos] = None
    return out if out.ndim else out.item()


def _modal_rows(users: np.ndarray, codes: np.ndarray, n_users: int) -> np.ndarray:
    """Per user and column, the most frequent known code (ties -> smallest code); 0 if none."""
    out = np.zeros((n_users, codes.shape[1]), np.int64)
    for j in range(codes.shape[1]):
        known = codes[:, j] > 0
        u, c = users[known].astype(np.int64), codes[known, j]
        if not len(u):
            continue
        # Sort-based counting of (user, code) pairs: memory O(events), not O(users x codes).
        width = int(c.max()) + 1
        keys = np.sort(u * width + c)
        starts = np.flatnonzero(np.concatenate([[True], keys[1:] != keys[:-1]]))
        counts = np.diff(np.append(starts, len(keys)))
        pair_u, pair_c = keys[starts] // width, keys[starts] % width
        order = np.lexsort((pair_c, -counts, pair_u))
        first = order[np.concatenate([[True], pair_u[order][1:] != pair_u[order][:-1]])]
        out[pair_u[first], j] = pair_c[first]
    return out


def _empty_arrays(n_users: int, n_items: int) -> dict[str, np.ndarray]:
    return {"user_codes": np.zeros((n_users, 0), np.int64), "item_codes": np.zeros((n_items, 0), np.int64),
            "item_text": np.zeros((n_items, 0), np.float32), "user_ids": np.zeros(n_users, np.int64),
            "item_ids": np.zeros(n_items, np.int64), "default_context": np.zeros((n_users, 0), np.int64)}

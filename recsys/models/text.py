"""Item text for the content models: fields from the items table, tokens, a vocabulary.

Both content models read the same fields of ``Dataset.item_features``: free text
(``title`` and ``description``) and labels (``category`` and ``|``-separated
``tags``). Any of them may be missing, as a column or per item (brand-new or
unlisted items have NA rows); a missing field reads as empty, never as "nan".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np
import pandas as pd
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

TEXT_FIELDS = ("title", "description")
LABEL_FIELDS = ("category", "tags")
TAG_SEPARATOR = "|"

# Index 0 pads sequences, 1 stands for words outside the vocabulary.
PAD, UNK = 0, 1
_RESERVED = ("<pad>", "<unk>")

# Words of two or more letters or digits, inner hyphens/apostrophes kept ("e-bike", "women's").
_WORD = re.compile(r"\w[\w'-]*\w", re.UNICODE)


@dataclass(frozen=True)
class ItemText:
    """The content of each item, aligned to ``item_idx``.

    Attributes
    ----------
    text : list of str
        Title and description joined (empty when both are missing).
    labels : list of list of str
        Category and tags as label tokens, ``"category=outdoor"``, ``"tag=trail-running"``.
    """

    text: list[str]
    labels: list[list[str]]

    def __len__(self) -> int:
        return len(self.text)

    def has_content(self) -> np.ndarray:
        """Boolean mask of items with any text or label."""
        return np.array([bool(t.strip()) or bool(lab) for t, lab in zip(self.text, self.labels)], dtype=bool)


def item_text(item_features: pd.DataFrame | None, n_items: int | None = None) -> ItemText:
    """Read the text and labels of every item from an items table.

    ``item_features`` is ``Dataset.item_features`` (rows aligned to ``item_idx``) or
    any frame with some of the columns title, description, category, tags; None gives
    ``n_items`` empty items.
    """
    if item_features is None:
        n = int(n_items or 0)
        return ItemText([""] * n, [[] for _ in range(n)])
    n = len(item_features) if n_items is None else int(n_items)
    if len(item_features) != n:
        raise ValueError(f"items table has {len(item_features)} rows, expected {n}")
    columns = {name: _strings(item_features[name]) if name in item_features.columns else [""] * n
               for name in TEXT_FIELDS + LABEL_FIELDS}
    text = [_join(title, description) for title, description in zip(columns["title"], columns["description"])]
    labels = [label_tokens(category, tags) for category, tags in zip(columns["category"], columns["tags"])]
    return ItemText(text, labels)


def label_tokens(category: str | None, tags: str | Sequence[str] | None) -> list[str]:
    """Category and tags as distinct, normalised label tokens (order kept)."""
    out: list[str] = []
    if category and str(category).strip():
        out.append("category=" + _normalise_label(category))
    if isinstance(tags, str):
        tags = tags.split(TAG_SEPARATOR)
    for tag in tags or ():
        if tag and str(tag).strip():
            out.append("tag=" + _normalise_label(tag))
    return list(dict.fromkeys(out))


def tokenize(text: str) -> list[str]:
    """Lower-case word tokens without English stop words.

    The TF-IDF vectoriser and the CNN vocabulary share it, so both models see the
    same words.
    """
    return [w for w in _WORD.findall(str(text).lower()) if w not in ENGLISH_STOP_WORDS]


class Vocabulary:
    """Token <-> index map with two reserved entries (0 = padding, 1 = unknown).

    Stored as one string array (``tokens``), so it saves to ``.npz`` without pickle.
    """

    def __init__(self, tokens: Iterable[str]):
        self.tokens = np.asarray(list(tokens), dtype=str)
        if len(self.tokens) < 2 or tuple(self.tokens[:2]) != _RESERVED:
            raise ValueError("a vocabulary starts with the reserved tokens <pad>, <unk>")
        self._index = {t: i for i, t in enumerate(self.tokens.tolist())}

    @classmethod
    def build(cls, documents: Iterable[Sequence[str]], *, min_count: int = 1,
              max_size: int | None = None) -> "Vocabulary":
        """Tokens occurring in at least ``min_count`` documents, most frequent first
        (ties alphabetical, so the result does not depend on hash order)."""
        counts: dict[str, int] = {}
        for doc in documents:
            for token in set(doc):
                counts[token] = counts.get(token, 0) + 1
        kept = sorted((t for t, c in counts.items() if c >= min_count), key=lambda t: (-counts[t], t))
        if max_size is not None:
            kept = kept[:max(0, int(max_size) - len(_RESERVED))]
        return cls(list(_RESERVED) + kept)

    def __len__(self) -> int:
        return len(self.tokens)

    def __contains__(self, token: str) -> bool:
        return token in self._index

    def index(self, token: str) -> int:
        return self._index.get(token, UNK)

    def encode(self, documents: Sequence[Sequence[str]], max_length: int, *,
               drop_unknown: bool = False) -> np.ndarray:
        """Documents as an int64 array (n_docs, max_length), truncated and 0-padded."""
        out = np.full((len(documents), max(1, int(max_length))), PAD, dtype=np.int64)
        for row, doc in enumerate(documents):
            ids = [self.index(t) for t in doc]
            if drop_unknown:
                ids = [i for i in ids if i != UNK]
            ids = ids[:out.shape[1]]
            out[row, :len(ids)] = ids
        return out


def _strings(values: pd.Series) -> list[str]:
    # NA of any flavour (None, NaN, pd.NA) becomes "", so it never reads as the word "nan".
    series = pd.Series(values)
    return ["" if pd.isna(v) else str(v).strip() for v in series.to_numpy(dtype=object)]


def _join(title: str, description: str) -> str:
    if title and description:
        return f"{title}. {description}"
    return title or description


def _normalise_label(label) -> str:
    return "-".join(str(label).strip().lower().split())

"""Content-based recommendation with TF-IDF item vectors and weighted user profiles."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer

from recsys.data.dataset import Dataset
from recsys.models.base import Recommender
from recsys.models.similarity import SimilarItems, top_similar
from recsys.models.text import ItemText, item_text, tokenize
from recsys.training.options import FitOptions
from recsys.training.progress import ProgressEvent


class ContentTFIDF(Recommender):
    """Recommend items whose text resembles what the customer engaged with.

    Each item is a TF-IDF vector of its title and description (word uni- to
    ``ngram_max``-grams, sublinear tf ``1 + ln tf``, smoothed idf) next to a
    TF-IDF vector of its category and tags (each a single token); both blocks
    are L2-normalised, the label block scaled by ``label_weight``, and the whole
    vector L2-normalised again. A user's profile is the recency- and
    event-weighted sum of the vectors of the items in their history,
    ``p_u = sum_e w_e 0.5^(age_e / half_life) v_{i_e}`` (``w_e`` from
    ``Dataset.frame["weight"]``, so a purchase counts more than a view), and the
    score of item i is ``cos(p_u, v_i)``. Items with no events at all score like
    any other, so brand-new catalog items are recommended from their text alone.

    Parameters
    ----------
    ngram_max : int in [1, 3], default 2
        Longest word n-gram; 2 adds bigrams such as "trail running".
    min_df : int in [1, 1000], default 2
        A word (or n-gram) must occur in this many items to be kept; words of a
        single item cannot link two items anyway. Falls back to 1 when nothing
        would remain (tiny catalogs).
    max_features : int in [0, 5_000_000], default 200_000
        Keep the most frequent n-grams only; 0 keeps all.
    label_weight : float in [0, 10], default 1.0
        Weight of the category/tags block against the text block (0 ignores them).
    half_life_days : float in [0, 3650], default 30.0
        An event this many days older than the latest training event counts
        half; 0 disables the decay. Without timestamps there is no decay.

    Attributes
    ----------
    item_vectors_ : csr_matrix of shape (n_items, n_terms + n_labels), float32
        L2-normalised item vectors (all-zero rows for items without any text).
    user_weights_ : csr_matrix of shape (n_users, n_items), float32
        Summed, decayed event weights; ``user_weights_ @ item_vectors_`` are the profiles.
    text_terms_, text_idf_, label_terms_, label_idf_ : ndarray
        Vocabularies and idf of both blocks, enough to vectorise new items.
    reference_time_ : int
        Unix seconds that event ages are measured from (-1 without timestamps).

    Notes
    -----
    Fitting is one pass over the item text, O(total tokens), plus a sparse
    product for the profiles. Scoring a batch of B users is a sparse product of
    their profiles with the item vectors, O(B * nnz(profile) * items per term),
    dense only in its B x n_items output. Users without history score 0
    everywhere (combine with Popularity for them). Deviations: the vocabulary
    and idf are computed over the whole catalog, items without events included,
    since their text is known up front (no interaction leaks into it); stop
    words are the scikit-learn English list.

    References
    ----------
    Lops, de Gemmis & Semeraro, "Content-based Recommender Systems: State of the
    Art and Trends", Recommender Systems Handbook, 2011. Salton & Buckley,
    "Term-weighting approaches in automatic text retrieval", IP&M 24(5), 1988.
    """

    key = "content_tfidf"
    capabilities = frozenset({"cold_start_items", "similar_items"})

    def __init__(self, ngram_max: int = 2, min_df: int = 2, max_features: int = 200_000,
                 label_weight: float = 1.0, half_life_days: float = 30.0):
        self.ngram_max = ngram_max
        self.min_df = min_df
        self.max_features = max_features
        self.label_weight = label_weight
        self.half_life_days = half_life_days

    # ----- fit -------------------------------------------------------------------
    def _fit(self, train: Dataset, options: FitOptions) -> None:
        if int(self.ngram_max) < 1 or int(self.min_df) < 1 or int(self.max_features) < 0:
            raise ValueError("ngram_max and min_df must be >= 1 and max_features >= 0")
        if float(self.label_weight) < 0 or float(self.half_life_days) < 0:
            raise ValueError("label_weight and half_life_days must be >= 0")
        content = item_text(train.item_features, train.n_items)
        if not content.has_content().any():
            raise ValueError("ContentTFIDF needs item text: the items table has no title, "
                             "description, category or tags")
        options.check_cancel()
        self.text_space_ = _fit_space(content.text, _text_vectorizer(self._ngram_range(), int(self.min_df),
                                                                      int(self.max_features) or None))
        self.label_space_ = _fit_space(content.labels, _label_vectorizer())
        self.item_vectors_ = self._vectorize(content)
        options.check_cancel()
        half_life = float(self.half_life_days)
        self.reference_time_ = int(train.frame["timestamp"].max()) if train.has_timestamps else -1
        self.user_weights_ = train.matrix(half_life_days=half_life or None)
        options.emit(ProgressEvent(stage="fit", step=1, total=1, elapsed=options.elapsed(),
                                   message=f"{self.item_vectors_.shape[1]:,} text and label features"))

    def _ngram_range(self) -> tuple[int, int]:
        return 1, int(self.ngram_max)

    def _vectorize(self, content: ItemText) -> sp.csr_matrix:
        text = self.text_space_.transform(content.text)
        labels = self.label_space_.transform(content.labels) * float(self.label_weight)
        return _l2_rows(sp.hstack([text, labels], format="csr"))

    # ----- scoring -----------------------------------------------------------
    def profiles(self, users) -> sp.csr_matrix:
        """Un-normalised profiles ``sum_e w_e decay_e v_i`` of ``users`` (sparse rows)."""
        self._check_fitted()
        return (self.user_weights_[np.asarray(users, dtype=np.int64)] @ self.item_vectors_).tocsr()

    def _score(self, users: np.ndarray, *, context: dict | None = None) -> np.ndarray:
        return self._cosine(self.profiles(users))

    def _cosine(self, profiles: sp.csr_matrix) -> np.ndarray:
        # Item vectors are unit length, so normalising the profile makes the dot a cosine.
        scores = _l2_rows(profiles) @ self.item_vectors_.T
        return np.asarray(scores.toarray(), dtype=np.float32)

    def score_history(self, item_indices: Sequence[int], weights: Sequence[float] | None = None) -> np.ndarray:
        """Scores of every item for an arbitrary history (e.g. a new customer's first picks).

        ``weights`` (default 1 each) multiply the items' vectors; repeated items add up.
        Returns a float32 array of shape (n_items,): the cosine with the weighted profile.
        """
        self._check_fitted()
        items = np.asarray(item_indices, dtype=np.int64).ravel()
        if items.size and (items.min() < 0 or items.max() >= self.n_items_):
            raise IndexError(f"item indices must be within [0, {self.n_items_})")
        w = np.ones(len(items), np.float32) if weights is None else np.asarray(weights, np.float32).ravel()
        if len(w) != len(items):
            raise ValueError("weights must have one value per item")
        row = sp.csr_matrix((w, (np.zeros(len(items), np.int64), items)), shape=(1, self.n_items_))
        return self._cosine((row @ self.item_vectors_).tocsr())[0]

    def similar_items(self, item_idx: int, k: int = 10) -> SimilarItems:
        """The ``k`` items whose text is closest (cosine) to ``item_idx``'s."""
        self._check_fitted()
        column = (self.item_vectors_ @ self.item_vectors_[int(item_idx)].T).toarray().ravel()
        if not column[int(item_idx)] > 0:  # an item without text is similar to nothing
            column[:] = -np.inf
        return top_similar(item_idx, column, k)

    @property
    def item_vectors(self) -> sp.csr_matrix:
        """A copy of the L2-normalised item vectors (rows aligned to ``item_idx``)."""
        self._check_fitted()
        return self.item_vectors_.copy()

    def vectorize(self, items: pd.DataFrame) -> sp.csr_matrix:
        """Vectors of items given as an items table (title, description, category, tags),
        in the fitted vocabulary: places items added after ``fit`` in the same space."""
        self._check_fitted()
        return self._vectorize(item_text(items.reset_index(drop=True)))

    # ----- persistence ----------------------------------------------------------
    def _get_state(self):
        return {"item_vectors_": self.item_vectors_, "user_weights_": self.user_weights_,
                "text_terms_": self.text_space_.terms, "text_idf_": self.text_space_.idf,
                "label_terms_": self.label_space_.terms, "label_idf_": self.label_space_.idf,
                "reference_time_": np.asarray(self.reference_time_, np.int64)}, None

    def _set_state(self, arrays: dict, state_dict: dict | None) -> None:
        self.item_vectors_ = sp.csr_matrix(arrays["item_vectors_"], dtype=np.float32)
        self.user_weights_ = sp.csr_matrix(arrays["user_weights_"], dtype=np.float32)
        self.text_space_ = TfidfSpace(arrays["text_terms_"], arrays["text_idf_"], self._ngram_range())
        self.label_space_ = TfidfSpace(arrays["label_terms_"], arrays["label_idf_"], None)
        self.reference_time_ = int(arrays["reference_time_"])


@dataclass(frozen=True)
class TfidfSpace:
    """A fitted TF-IDF space as plain arrays: terms, their idf, the n-gram range.

    ``transform`` reproduces ``TfidfVectorizer(sublinear_tf=True).transform``
    from these arrays alone, so a saved model needs no pickled vectoriser.
    ``ngram_range`` None means documents are already token lists (labels).
    """

    terms: np.ndarray
    idf: np.ndarray
    ngram_range: tuple[int, int] | None

    def transform(self, documents: Sequence) -> sp.csr_matrix:
        n = len(documents)
        if len(self.terms) == 0:
            return sp.csr_matrix((n, 0), dtype=np.float32)
        vocabulary = {t: i for i, t in enumerate(self.terms.tolist())}
        if self.ngram_range is None:
            counter = CountVectorizer(analyzer=_identity, vocabulary=vocabulary, dtype=np.float64)
        else:
            counter = CountVectorizer(tokenizer=tokenize, lowercase=False, token_pattern=None,
                                      ngram_range=tuple(self.ngram_range), vocabulary=vocabulary,
                                      dtype=np.float64)
        counts = counter.transform(list(documents)).tocsr()
        counts.data = 1.0 + np.log(counts.data)  # sublinear tf
        return _l2_rows(counts @ sp.diags(np.asarray(self.idf, np.float64)))


def _text_vectorizer(ngram_range: tuple[int, int], min_df: int, max_features: int | None) -> TfidfVectorizer:
    return TfidfVectorizer(tokenizer=tokenize, lowercase=False, token_pattern=None, ngram_range=ngram_range,
                           min_df=min_df, max_features=max_features, sublinear_tf=True)


def _label_vectorizer() -> TfidfVectorizer:
    return TfidfVectorizer(analyzer=_identity, sublinear_tf=True)


def _fit_space(documents: list, vectorizer: TfidfVectorizer) -> TfidfSpace:
    """Fit vocabulary and idf; an empty space when no term survives (no such field, tiny data)."""
    ngram_range = None if vectorizer.analyzer is _identity else vectorizer.ngram_range
    try:
        vectorizer.fit(documents)
    except ValueError:  # "empty vocabulary" or "no terms remain" after min_df pruning
        if vectorizer.min_df == 1:
            return TfidfSpace(np.zeros(0, dtype=str), np.zeros(0), ngram_range)
        return _fit_space(documents, vectorizer.set_params(min_df=1))
    terms = vectorizer.get_feature_names_out().astype(str)
    return TfidfSpace(terms, vectorizer.idf_.astype(np.float64), ngram_range)


def _identity(tokens):
    return tokens


def _l2_rows(m: sp.spmatrix) -> sp.csr_matrix:
    m = sp.csr_matrix(m, dtype=np.float32)
    norms = np.sqrt(np.asarray(m.multiply(m).sum(axis=1), dtype=np.float64).ravel())
    norms[norms == 0] = 1.0
    return sp.csr_matrix(sp.diags((1.0 / norms).astype(np.float32)) @ m, dtype=np.float32)

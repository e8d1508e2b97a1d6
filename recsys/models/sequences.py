"""Sequence helpers shared by the next-item models (GRU4Rec, SASRec).

Histories are CSR pairs ``(indptr, items)`` from ``Dataset.sequences()``: the items
of user ``u`` are ``items[indptr[u]:indptr[u+1]]``, oldest first. Network inputs
shift items by one so that ``PAD = 0`` never collides with item 0; outputs cover
items ``1..n_items`` only, so padding can never be recommended.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar, Sequence

import numpy as np
import torch

from recsys.data.dataset import Dataset
from recsys.models.torch_model import CANCEL_EVERY_BATCHES, TorchRecommender
from recsys.training.options import FitOptions

PAD = 0
SIDES = ("left", "right")
# Logits held at once by the training loss: a few MB on CPU so each chunk stays in cache
# (several times faster than one big matrix), more on CUDA where large matmuls pay.
LOGIT_BUDGET_CPU = 2 ** 20
LOGIT_BUDGET_CUDA = 2 ** 26


@dataclass(frozen=True)
class TrainingWindows:
    """Next-item training examples, one row per window of a user's history.

    ``targets[w, j]`` is the item that follows ``inputs[w, j]`` in the user's
    history (both shifted by one; ``PAD`` where the window is shorter than
    ``max_len``). A causal model predicting ``targets[w, j]`` from
    ``inputs[w, :j + 1]`` only ever sees events earlier than its target.
    """

    inputs: np.ndarray
    targets: np.ndarray
    user_idx: np.ndarray

    def __len__(self) -> int:
        return len(self.inputs)

    @property
    def n_targets(self) -> int:
        return int((self.targets != PAD).sum())


def collapse_repeats(indptr: np.ndarray, items: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Drop events on the same item as the user's previous event (view, click, cart of one item).

    A funnel on one item is one step of the sequence, not several: kept, the
    repeats would teach "next = same item", which recommending excludes anyway.
    Non-consecutive repeats stay. O(events).
    """
    items = np.asarray(items, dtype=np.int64)
    keep = np.ones(len(items), bool)
    keep[1:] = items[1:] != items[:-1]
    keep[indptr[:-1][np.diff(indptr) > 0]] = True  # a user's first event is never a repeat
    n_users = len(indptr) - 1
    counts = np.bincount(np.repeat(np.arange(n_users), np.diff(indptr))[keep], minlength=n_users)
    return np.concatenate([[0], np.cumsum(counts)]).astype(np.int64), items[keep]


def pad_histories(indptr: np.ndarray, items: np.ndarray, rows: np.ndarray, max_len: int,
                  side: str = "left") -> np.ndarray:
    """The last ``max_len`` items of each of ``rows`` as an (n, max_len) int64 array.

    Items are shifted by one and padded with ``PAD`` on ``side``; histories longer
    than ``max_len`` are left-truncated (the most recent events are kept). O(n max_len).
    """
    _check_side(side)
    rows = np.asarray(rows, dtype=np.int64)
    start, end = indptr[rows], indptr[rows + 1]
    return _gather(items, end - 1, np.minimum(end - start, max_len), max_len, side)


def training_windows(indptr: np.ndarray, items: np.ndarray, max_len: int, side: str = "left",
                     offsets: np.ndarray | None = None) -> TrainingWindows:
    """Cut every history into windows whose every position predicts the next item.

    Each event after a user's first is the target of exactly one window position,
    predicted from the events before it in the same window (at most ``max_len``).
    Windows are aligned to the end of the history, so the most recent events get the
    longest contexts; ``offsets`` (per user, in ``[0, max_len)``) shortens each
    user's last window by that much, moving every earlier boundary (a cheap
    augmentation when redrawn per epoch). O(total events).
    """
    _check_side(side)
    n_users = len(indptr) - 1
    n_targets = np.maximum(np.diff(indptr) - 1, 0)
    offsets = np.zeros(n_users, np.int64) if offsets is None else np.asarray(offsets, np.int64) % max_len
    last = np.minimum(n_targets, max_len - offsets)
    rest = n_targets - last
    n_windows = np.where(n_targets > 0, 1 + -(-rest // max_len), 0)
    user = np.repeat(np.arange(n_users), n_windows)
    k = np.arange(len(user)) - np.repeat(np.cumsum(n_windows) - n_windows, n_windows)
    # k = 0 is the last window (ending at the user's last event), k = 1 the one before...
    end = np.where(k == 0, n_targets[user], rest[user] - (k - 1) * max_len)
    length = np.where(k == 0, last[user], np.minimum(max_len, end))
    target_end = indptr[user] + end  # global index of each window's last target
    targets = _gather(items, target_end, length, max_len, side)
    inputs = _gather(items, target_end - 1, length, max_len, side)
    return TrainingWindows(inputs, targets, user.astype(np.int64))


def _gather(items: np.ndarray, last: np.ndarray, length: np.ndarray, max_len: int, side: str) -> np.ndarray:
    """Rows of ``length[r]`` items ending at global index ``last[r]``, shifted and padded."""
    out = np.zeros((len(last), max_len), np.int64)
    if len(last) == 0:
        return out
    col = np.arange(max_len)
    if side == "left":
        valid = col >= (max_len - length)[:, None]
        src = last[:, None] - (max_len - 1 - col)
    else:
        valid = col < length[:, None]
        src = last[:, None] - length[:, None] + 1 + col
    out[valid] = items[src[valid]] + 1
    return out


def _check_side(side: str) -> None:
    if side not in SIDES:
        raise ValueError(f"side must be one of {SIDES}, got {side!r}")


def softmax_cross_entropy_backward(hidden: torch.Tensor, targets: torch.Tensor, items: torch.Tensor,
                                   budget: int = LOGIT_BUDGET_CPU) -> float:
    """Back-propagate the mean full-catalog cross-entropy of ``hidden @ items.T``; return it.

    ``hidden`` (P, d) are the states that predict ``targets`` (P,) in ``0..n-1``,
    ``items`` (n, d) the output item embeddings. The gradient of softmax
    cross-entropy is ``softmax(logits) - onehot(target)``, computed in place on
    ``budget // n``-row chunks of logits (cache-sized on CPU), so memory is
    O(budget) and no autograd graph is kept for the (P, n) logits; one backward
    call then carries both gradients into the network.
    """
    n_rows = len(hidden)
    if n_rows == 0:
        return 0.0
    chunk = max(8, budget // max(len(items), 1))
    total = 0.0
    with torch.no_grad():
        h, w = hidden.detach().float(), items.detach().float()
        grad_h, grad_w = torch.empty_like(h), torch.zeros_like(w)
        for start in range(0, n_rows, chunk):
            hc, yc = h[start:start + chunk], targets[start:start + chunk]
            probs = hc @ w.T
            top = probs.amax(1, keepdim=True)
            probs.sub_(top).exp_()
            norm = probs.sum(1, keepdim=True)
            # loss = logsumexp(logits) - logit(target)
            total += float((norm.log() + top).sum() - (hc * w[yc]).sum())
            probs.div_(norm)
            probs[torch.arange(len(yc), device=probs.device), yc] -= 1.0
            grad_h[start:start + chunk] = probs @ w
            grad_w.addmm_(probs.T, hc)
    scale = 1.0 / n_rows
    torch.autograd.backward([hidden, items], [(grad_h * scale).to(hidden.dtype), (grad_w * scale).to(items.dtype)])
    return total * scale


def lr_factor(epoch: float, epochs: int) -> float:
    """Learning-rate multiplier at (fractional) ``epoch`` of ``epochs``: warm-up, then cosine.

    Linear warm-up over the first epoch (attention is unstable at full step size
    from a random start), then cosine decay towards zero at the last epoch, so a
    fixed epoch budget ends on a settled model even without early stopping.
    """
    if epoch < 1.0:
        return max(epoch, 0.05)
    progress = min((epoch - 1.0) / max(epochs - 1, 1), 1.0)
    return 0.5 * (1.0 + math.cos(math.pi * progress))


def sampled_softmax_cross_entropy(hidden: torch.Tensor, targets: torch.Tensor, items: torch.Tensor,
                                  negatives: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy of each target against ``negatives`` shared by the batch.

    Uniformly drawn negatives need no log-Q correction (their proposal is
    constant); a negative equal to the row's target is masked out. O(P K d).
    """
    positive = (hidden * items[targets]).sum(1, keepdim=True)
    negative = hidden @ items[negatives].T
    negative = negative.masked_fill(negatives[None, :] == targets[:, None], float("-inf"))
    logits = torch.cat([positive, negative], 1).float()
    return torch.nn.functional.cross_entropy(logits, torch.zeros_like(targets))


class SequentialRecommender(TorchRecommender):
    """Base of the next-item models: histories as fitted arrays, windows, CE, scoring.

    A subclass supplies the network (``forward(seqs) -> (B, L, d)`` hidden states
    for (B, L) shifted item ids, and an ``item_embedding`` whose rows ``1..n`` are
    the output item vectors) and sets ``pad_side``; it must have ``max_len``,
    ``window_shift`` and ``n_negatives`` hyper-parameters. Scoring feeds the last
    ``max_len`` items of a history and reads the state at its last item.
    """

    pad_side: ClassVar[str] = "left"

    sequence_indptr_: np.ndarray
    sequence_items_: np.ndarray

    def _build_network(self, train: Dataset) -> torch.nn.Module:
        return self._network_from_config(self._network_config())

    def _prepare(self, train: Dataset, device: torch.device, options: FitOptions) -> None:
        self.sequence_indptr_, self.sequence_items_ = collapse_repeats(*train.sequences())
        if not self.window_shift:
            self.windows_ = self._windows_to_device(None)

    def _windows_to_device(self, offsets: np.ndarray | None) -> tuple[torch.Tensor, torch.Tensor]:
        windows = training_windows(self.sequence_indptr_, self.sequence_items_, int(self.max_len),
                                   self.pad_side, offsets)
        return (torch.from_numpy(windows.inputs).to(self.device_),
                torch.from_numpy(windows.targets).to(self.device_))

    def _train_epoch(self, epoch: int, optimizer: torch.optim.Optimizer, options: FitOptions) -> float:
        if self.window_shift:
            offsets = self.rng_.integers(0, int(self.max_len), len(self.sequence_indptr_) - 1)
            inputs, targets = self._windows_to_device(offsets)
        else:
            inputs, targets = self.windows_
        budget = LOGIT_BUDGET_CUDA if self.device_.type == "cuda" else LOGIT_BUDGET_CPU
        lengths = (targets != PAD).sum(1)
        batches = self._length_batches(lengths)
        total, count = 0.0, 0
        for b, idx in enumerate(batches):
            if b % CANCEL_EVERY_BATCHES == 0:
                options.check_cancel()
            for group in optimizer.param_groups:
                group["lr"] = float(self.learning_rate) * lr_factor(epoch + b / len(batches), int(self.epochs))
            width = int(lengths[idx].max())
            x, y = self._trim(inputs[idx], width), self._trim(targets[idx], width)
            optimizer.zero_grad(set_to_none=True)
            with self.autocast():
                hidden = self.network_(x)
            mask = y != PAD
            loss = self._backward_loss(hidden[mask], y[mask] - 1, budget)
            optimizer.step()
            n = int(mask.sum())
            total, count = total + loss * n, count + n
        return total / max(count, 1)

    def _backward_loss(self, hidden: torch.Tensor, targets: torch.Tensor, budget: int) -> float:
        """Back-propagate the next-item loss of ``hidden`` states for ``targets`` (0-based items)."""
        if 0 < int(self.n_negatives) < self.n_items_:
            negatives = torch.randint(0, self.n_items_, (int(self.n_negatives),), generator=self.generator_,
                                      device=self.device_)
            with self.autocast():
                loss = sampled_softmax_cross_entropy(hidden, targets, self._output_items(), negatives)
            loss.backward()
            return float(loss.detach())
        return softmax_cross_entropy_backward(hidden, targets, self._output_items(), budget)

    def _length_batches(self, lengths: torch.Tensor) -> list[torch.Tensor]:
        """Mini-batches of windows of similar length, in a seeded random order.

        Short windows (short or early histories) then share batches, so the network
        runs on far less padding than with random batches; ties break at random.
        """
        jitter = torch.rand(len(lengths), generator=self.generator_, device=self.device_)
        batches = torch.argsort(lengths + jitter).split(int(self.batch_size))
        order = torch.randperm(len(batches), generator=self.generator_, device=self.device_)
        return [batches[i] for i in order.tolist()]

    def _trim(self, seqs: torch.Tensor, length: int) -> torch.Tensor:
        """Drop the all-padding columns (positions stay aligned: see the networks)."""
        return seqs[:, seqs.shape[1] - length:] if self.pad_side == "left" else seqs[:, :length]

    def _release_training_data(self) -> None:
        self.__dict__.pop("windows_", None)
        super()._release_training_data()

    # ----- scoring -------------------------------------------------------------
    def _output_items(self) -> torch.Tensor:
        return self.network_.item_embedding.weight[1:]

    def _last_states(self, seqs: torch.Tensor) -> torch.Tensor:
        """Hidden state at each sequence's last item (B, d)."""
        with self.autocast():
            hidden = self.network_(seqs)
        if self.pad_side == "left":
            return hidden[:, -1]
        last = ((seqs != PAD).sum(1) - 1).clamp(min=0)
        return hidden[torch.arange(len(seqs), device=seqs.device), last]

    def _scores_of_padded(self, seqs: np.ndarray) -> torch.Tensor:
        states = self._last_states(torch.as_tensor(seqs, dtype=torch.long, device=self.device_))
        with self.autocast():
            return states @ self._output_items().T

    def _score_tensor(self, users: torch.Tensor) -> torch.Tensor:
        seqs = pad_histories(self.sequence_indptr_, self.sequence_items_, users.cpu().numpy(),
                             int(self.max_len), self.pad_side)
        return self._scores_of_padded(seqs)

    @torch.no_grad()
    def score_sequences(self, sequences: Sequence[np.ndarray]) -> np.ndarray:
        """Scores of every item after each of ``sequences`` (item indices, oldest first).

        For histories the model was not fitted on (new events, what-if edits): no
        retraining, only the last ``max_len`` items count. Returns float32 of shape
        (len(sequences), n_items). An empty history gets the model's "no context" scores.
        """
        self._check_fitted()
        seqs = self._pad_checked(sequences)
        self.network_.eval()
        out = [self._scores_of_padded(seqs[s:s + self.score_batch]).float().cpu().numpy()
               for s in range(0, len(seqs), self.score_batch)]
        return np.concatenate(out) if out else np.zeros((0, self.n_items_), np.float32)

    def _pad_checked(self, sequences: Sequence[np.ndarray]) -> np.ndarray:
        seqs = [np.asarray(s, dtype=np.int64).ravel() for s in sequences]
        for s in seqs:
            if len(s) and (s.min() < 0 or s.max() >= self.n_items_):
                raise ValueError(f"item indices must be within [0, {self.n_items_})")
        lengths = [len(s) for s in seqs]
        indptr = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        indptr, items = collapse_repeats(indptr, np.concatenate(seqs) if seqs else np.zeros(0, np.int64))
        return pad_histories(indptr, items, np.arange(len(seqs)), int(self.max_len), self.pad_side)

    def user_sequence(self, user_idx: int) -> np.ndarray:
        """The fitted, time-ordered history of ``user_idx`` (item indices, oldest first)."""
        self._check_fitted()
        u = int(user_idx)
        return self.sequence_items_[self.sequence_indptr_[u]:self.sequence_indptr_[u + 1]].copy()

    # ----- persistence ---------------------------------------------------------
    def _extra_arrays(self) -> dict[str, np.ndarray]:
        return {"sequence_indptr_": self.sequence_indptr_, "sequence_items_": self.sequence_items_}

    def _set_extra_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        self.sequence_indptr_ = arrays["sequence_indptr_"].astype(np.int64)
        self.sequence_items_ = arrays["sequence_items_"].astype(np.int64)

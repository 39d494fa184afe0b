"""Dice + focal segmentation loss per head, summed over the hierarchy, with optional class weights.

Per head (``binary``, ``coarse``, ``fine``) the loss is ``dice_weight * Dice + focal_weight * Focal``
(1.0 and 1.0 by default: an equal mix), computed on the non-ignored pixels only. The softmax is taken per
pixel, so its value at a valid pixel does not depend on any other; pixels whose target is ``IGNORE_INDEX``
(255) are then *selected out* of every sum (``torch.where``, not a product), so they add nothing to any Dice
sum or focal mean and receive exactly zero gradient, whatever their finite logits. Every term is a masked
reduction over the (N, C, H, W) map rather than a gather of the valid pixels into a list, which takes twice
as long on a CPU. The hierarchical loss is

    total = w_binary * L_binary + w_coarse * L_coarse + w_fine * L_fine     (defaults 0.2, 0.3, 1.0)

over the heads a curriculum stage activates. Binary-level items carry 255 everywhere in their coarse and
fine targets (see :mod:`heritage_core.data.loader`), so they feed the binary term alone.

Dice (soft, batch level). With ``p`` the softmax over classes and ``V`` the valid pixels of the whole batch
(all images together), for each class ``c``::

    I_c = sum_{i in V} p_ic [t_i = c],   P_c = sum_{i in V} p_ic,   T_c = sum_{i in V} [t_i = c]
    Dice_c = 2 I_c / (P_c + T_c)

A class is *present* when ``T_c > 0``, i.e. at least one non-ignored pixel of the batch's target has that
label. The Dice loss is ``1 - mean of Dice_c over present classes``: absent classes are left out rather than
counted as perfect (or as zero), so they do not dilute the mean. Probability put on an absent class still
costs, since it is taken from the present classes' ``I_c``. ``T_c >= 1`` for present classes, so no
smoothing term is needed and hand-worked values are exact.

Focal (Lin et al., 2017), gamma = 2 by default: ``mean over i in V of -a_{t_i} (1 - p_{i,t_i})^gamma log p_{i,t_i}``,
with ``a`` the class weights (1 when none). The mean is over all valid pixels of the batch.

Class weights (:func:`class_weights_from_counts`) enter the focal term only: Dice already weighs every present
class equally. They come from the train partition's valid-pixel counts ``n_c`` with frequencies
``f_c = n_c / sum_c n_c``:

* ``inverse_sqrt`` (default): ``w_c = 1 / sqrt(f_c)``;
* ``median_frequency`` (Eigen & Fergus, 2015): ``w_c = median_{k present}(f_k) / f_c``;

then normalised to mean 1 over the classes present in the train partition (``n_c > 0``). Classes absent
from it get weight 1 (they have no train pixels, so the weight only matters on other partitions).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from heritage_core.data.cache import Cache, open_cache
from heritage_core.errors import ConfigError, DataError, ModelError
from heritage_core.taxonomy import HEADS, IGNORE_INDEX, default_taxonomy

__all__ = [
    "DEFAULT_HEAD_WEIGHTS",
    "CLASS_WEIGHT_METHODS",
    "dice_loss",
    "focal_loss",
    "DiceFocalLoss",
    "HierarchicalLoss",
    "pixel_counts",
    "class_weights_from_counts",
    "compute_class_weights",
    "class_weights_record",
]

#: Weight of each head's loss in the total.
DEFAULT_HEAD_WEIGHTS: Mapping[str, float] = MappingProxyType({"binary": 0.2, "coarse": 0.3, "fine": 1.0})
#: Class-weight formulas, with the text stored beside the weights.
CLASS_WEIGHT_METHODS: Mapping[str, str] = MappingProxyType({
    "inverse_sqrt": "w_c = 1/sqrt(f_c), f_c = n_c / sum(n); normalised to mean 1 over classes with n_c > 0; 1 where n_c = 0",
    "median_frequency": "w_c = median_{n_k>0}(f_k) / f_c, f_c = n_c / sum(n); normalised to mean 1 over classes with n_c > 0; "
    "1 where n_c = 0",
})


def _log_probs(
    logits: Tensor, target: Tensor, ignore_index: int
) -> tuple[Tensor, Tensor, Tensor, Tensor] | None:
    """Per-pixel log-softmax and the label terms of the loss; None when no pixel is valid.

    Returns:
        ``(log_probs, log_pt, labels, valid)``: log-probabilities (N, C, H, W) in at least float32, each
        pixel's log-probability of its label (N, H, W), the labels as long (N, H, W) with ignored pixels set to
        class 0 (their terms are selected out by ``valid``), and the non-ignored pixels (N, H, W) bool.

    Raises:
        ModelError: ``logits`` is not (N, C, H, W) with the target's N, H, W.
        DataError: a non-ignored target value is outside ``0..C-1``.
    """
    if logits.ndim != 4 or target.shape != (logits.shape[0], *logits.shape[2:]):
        raise ModelError(
            f"loss: logits of shape {tuple(logits.shape)} do not match target of shape {tuple(target.shape)}; "
            f"expected logits (N, C, H, W) and target (N, H, W) at the same resolution"
        )
    valid = target != ignore_index
    labels = torch.where(valid, target, 0).long()
    out_of_range = valid & ((labels < 0) | (labels >= logits.shape[1]))
    if out_of_range.any():
        bad = torch.unique(labels[out_of_range]).tolist()
        raise DataError(
            f"loss: target values {bad} are neither a class 0..{logits.shape[1] - 1} nor the ignore index "
            f"{ignore_index}; check that the target and the head match"
        )
    if not valid.any():
        return None
    # half precision (AMP) computes in float32
    log_probs = logits.to(torch.promote_types(logits.dtype, torch.float32)).log_softmax(dim=1)
    log_pt = log_probs.gather(1, labels[:, None])[:, 0]
    return log_probs, log_pt, labels, valid


def _zero_like_graph(logits: Tensor) -> Tensor:
    """A 0 that stays attached to ``logits``' graph with zero gradient (and no NaN, whatever the logits)."""
    return logits.flatten()[:0].float().sum()


def dice_loss(logits: Tensor, target: Tensor, ignore_index: int = IGNORE_INDEX) -> Tensor:
    """Soft multi-class Dice loss over the batch, averaged over the classes present in ``target``.

    Args:
        logits: raw class scores.
        target: class ids, ``ignore_index`` where unlabelled.
        ignore_index: label excluded from every sum.

    Returns:
        Scalar ``1 - mean_{c present} 2 I_c / (P_c + T_c)`` (module docstring); 0 when no pixel is valid.

    Shapes:
        logits: (N, C, H, W); target: (N, H, W).
    """
    terms = _log_probs(logits, target, ignore_index)
    return _zero_like_graph(logits) if terms is None else _dice(*terms)


def _dice(log_probs: Tensor, log_pt: Tensor, labels: Tensor, valid: Tensor) -> Tensor:
    """Dice loss from :func:`_log_probs`' terms; at least one pixel is valid."""
    num_classes = log_probs.shape[1]
    pt = torch.where(valid, log_pt.exp(), 0.0)
    inter = pt.new_zeros(num_classes).index_add(0, labels.flatten(), pt.flatten())  # I_c
    predicted = torch.where(valid[:, None], log_probs.exp(), 0.0).sum((0, 2, 3))  # P_c
    true = torch.bincount(labels[valid], minlength=num_classes)  # T_c
    present = true > 0
    return 1.0 - (2.0 * inter[present] / (predicted[present] + true[present])).mean()


def focal_loss(
    logits: Tensor,
    target: Tensor,
    gamma: float = 2.0,
    class_weights: Tensor | None = None,
    ignore_index: int = IGNORE_INDEX,
) -> Tensor:
    """Multi-class focal loss, mean over the non-ignored pixels of the batch.

    Args:
        logits: raw class scores.
        target: class ids, ``ignore_index`` where unlabelled.
        gamma: focusing exponent (0 gives cross-entropy).
        class_weights: per-class factor ``a_c`` on each pixel's term; None for 1.
        ignore_index: label excluded from the mean.

    Returns:
        Scalar ``mean_i -a_{t_i} (1 - p_{i,t_i})^gamma log p_{i,t_i}``; 0 when no pixel is valid.

    Shapes:
        logits: (N, C, H, W); target: (N, H, W); class_weights: (C,).

    Raises:
        ConfigError: ``class_weights`` does not have C entries.
    """
    _check_class_weights(class_weights, logits.shape[1])
    terms = _log_probs(logits, target, ignore_index)
    if terms is None:
        return _zero_like_graph(logits)
    _, log_pt, labels, valid = terms
    return _focal(log_pt, labels, valid, gamma, class_weights)


def _check_class_weights(class_weights: Tensor | None, num_classes: int) -> None:
    if class_weights is not None and class_weights.shape != (num_classes,):
        raise ConfigError(
            f"focal loss: class_weights has shape {tuple(class_weights.shape)} but the logits have "
            f"{num_classes} classes; compute the weights for this head"
        )


def _focal(log_pt: Tensor, labels: Tensor, valid: Tensor, gamma: float, class_weights: Tensor | None) -> Tensor:
    """Focal loss from :func:`_log_probs`' label terms; at least one pixel is valid."""
    terms = -((1.0 - log_pt.exp()) ** gamma) * log_pt
    if class_weights is not None:
        terms = terms * class_weights.to(device=terms.device, dtype=terms.dtype)[labels]
    return torch.where(valid, terms, 0.0).sum() / valid.sum()


class DiceFocalLoss(nn.Module):
    """``dice_weight * dice_loss + focal_weight * focal_loss`` for one head.

    Args:
        dice_weight: factor on the Dice term.
        focal_weight: factor on the focal term.
        gamma: focal exponent.
        class_weights: per-class factors of the focal term, or None.
        ignore_index: label excluded from both terms.

    Shapes:
        forward: logits (N, C, H, W), target (N, H, W) long -> scalar.
    """

    def __init__(
        self,
        dice_weight: float = 1.0,
        focal_weight: float = 1.0,
        gamma: float = 2.0,
        class_weights: Tensor | None = None,
        ignore_index: int = IGNORE_INDEX,
    ) -> None:
        super().__init__()
        for name, value in (("dice_weight", dice_weight), ("focal_weight", focal_weight), ("gamma", gamma)):
            if not value >= 0:
                raise ConfigError(f"DiceFocalLoss: {name} is {value!r}; it must be a number >= 0")
        self.dice_weight = float(dice_weight)
        self.focal_weight = float(focal_weight)
        self.gamma = float(gamma)
        self.ignore_index = ignore_index
        self.register_buffer("class_weights", None if class_weights is None else torch.as_tensor(class_weights).float())

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        """The head's loss (scalar); the log-softmax and the label terms are computed once for both terms."""
        _check_class_weights(self.class_weights, logits.shape[1])
        terms = _log_probs(logits, target, self.ignore_index)
        if terms is None:
            return _zero_like_graph(logits)
        _, log_pt, labels, valid = terms
        dice = _dice(*terms)
        focal = _focal(log_pt, labels, valid, self.gamma, self.class_weights)
        return self.dice_weight * dice + self.focal_weight * focal


class HierarchicalLoss(nn.Module):
    """Weighted sum of per-head :class:`DiceFocalLoss` over the heads of a curriculum stage.

    Args:
        weights: loss weight per head; None for :data:`DEFAULT_HEAD_WEIGHTS`. Must cover ``heads``.
        heads: the heads that enter the total (e.g. ``("binary",)`` in a first stage).
        class_weights: optional per-head focal class weights, head -> (C,) tensor.
        dice_weight: factor on every head's Dice term.
        focal_weight: factor on every head's focal term.
        gamma: focal exponent.

    Raises:
        ConfigError: an unknown head, a head without a weight, a negative weight, or class weights for a
            head that is not in ``heads``.

    Shapes:
        forward: logits head -> (N, C_head, H, W), targets head -> (N, H, W) long -> (scalar, dict of float).
    """

    def __init__(
        self,
        weights: Mapping[str, float] | None = None,
        heads: Sequence[str] = HEADS,
        class_weights: Mapping[str, Tensor] | None = None,
        dice_weight: float = 1.0,
        focal_weight: float = 1.0,
        gamma: float = 2.0,
    ) -> None:
        super().__init__()
        weights = dict(DEFAULT_HEAD_WEIGHTS if weights is None else weights)
        heads = tuple(heads)
        class_weights = dict(class_weights or {})
        unknown = sorted((set(weights) | set(heads) | set(class_weights)) - set(HEADS))
        if unknown:
            raise ConfigError(f"HierarchicalLoss: unknown heads {unknown}; allowed are {list(HEADS)}")
        if not heads or len(set(heads)) != len(heads):
            raise ConfigError(f"HierarchicalLoss: heads is {list(heads)}; give each of {list(HEADS)} at most once, at least one")
        unweighted = [h for h in heads if h not in weights]
        if unweighted:
            raise ConfigError(f"HierarchicalLoss: heads {unweighted} have no weight in {weights}; add them to weights")
        negative = {h: w for h, w in weights.items() if not w >= 0}
        if negative:
            raise ConfigError(f"HierarchicalLoss: weights {negative} are negative or NaN; weights must be >= 0")
        unused = sorted(set(class_weights) - set(heads))
        if unused:
            raise ConfigError(f"HierarchicalLoss: class_weights given for heads {unused} that are not in heads {list(heads)}")
        self.heads = heads
        self.weights = {h: float(weights[h]) for h in heads}
        self.terms = nn.ModuleDict(
            {h: DiceFocalLoss(dice_weight, focal_weight, gamma, class_weights.get(h)) for h in heads}
        )

    def forward(self, logits: Mapping[str, Tensor], targets: Mapping[str, Tensor]) -> tuple[Tensor, dict[str, float]]:
        """Total loss and each active head's unweighted loss as a float (for logging).

        Raises:
            ModelError: ``logits`` lacks an active head.
            DataError: ``targets`` lacks an active head.
        """
        missing = [h for h in self.heads if h not in logits]
        if missing:
            raise ModelError(
                f"HierarchicalLoss: the model returned heads {sorted(logits)} but the loss needs {missing}; "
                f"a flat model has only 'fine', so train it with heads=('fine',)"
            )
        missing = [h for h in self.heads if h not in targets]
        if missing:
            raise DataError(f"HierarchicalLoss: the batch has targets {sorted(targets)} but lacks {missing}")
        losses = {h: self.terms[h](logits[h], targets[h]) for h in self.heads}
        total = sum(self.weights[h] * losses[h] for h in self.heads)
        return total, {h: float(loss.detach()) for h, loss in losses.items()}


def pixel_counts(cache: Cache | str, ids: Sequence[str], head: str) -> np.ndarray:
    """Non-ignored pixels per class of ``head`` over the cached masks of ``ids`` (the train partition).

    Fine-level items are mapped to ``head`` with the taxonomy; binary-level items count for the binary head
    only. Pixels are counted at the cache's resolution.

    Returns:
        int64 array of shape (C_head,).

    Raises:
        ConfigError: ``head`` is unknown.
        DataError: an id is not in the cache.
    """
    if head not in HEADS:
        raise ConfigError(f"pixel_counts: unknown head '{head}'; allowed are {list(HEADS)}")
    cache = cache if isinstance(cache, Cache) else open_cache(cache)
    taxonomy = default_taxonomy()
    n = taxonomy.num_classes[head]
    counts = np.zeros(256, dtype=np.int64)
    for item_id in ids:
        level = cache.label_level(item_id)
        if HEADS.index(head) > HEADS.index(level):
            continue
        counts += np.bincount(taxonomy.lut(level, head)[cache.load_mask(item_id, mmap=True)].ravel(), minlength=256)
    return counts[:n]


def class_weights_from_counts(counts: Sequence[int] | np.ndarray, method: str = "inverse_sqrt") -> Tensor:
    """Class weights from valid-pixel counts with one of :data:`CLASS_WEIGHT_METHODS` (module docstring).

    Args:
        counts: non-negative pixels per class.
        method: ``inverse_sqrt`` or ``median_frequency``.

    Returns:
        float32 tensor of shape (C,), mean 1 over classes with a count > 0, 1 elsewhere.

    Raises:
        ConfigError: unknown ``method``.
        DataError: negative counts, or no class has any pixel.
    """
    if method not in CLASS_WEIGHT_METHODS:
        raise ConfigError(f"class weights: unknown method '{method}'; allowed are {sorted(CLASS_WEIGHT_METHODS)}")
    n = np.asarray(counts, dtype=np.float64)
    if n.ndim != 1 or (n < 0).any() or not (n > 0).any():
        raise DataError(
            f"class weights: pixel counts {n.tolist()} must be non-negative with at least one class > 0; "
            f"the train partition has no labelled pixel for this head"
        )
    present = n > 0
    freq = n[present] / n.sum()
    raw = 1.0 / np.sqrt(freq) if method == "inverse_sqrt" else np.median(freq) / freq
    weights = np.ones_like(n)
    weights[present] = raw / raw.mean()
    return torch.tensor(weights, dtype=torch.float32)


def compute_class_weights(cache: Cache | str, ids: Sequence[str], head: str, method: str = "inverse_sqrt") -> Tensor:
    """Class weights of ``head`` from the pixel counts of ``ids`` (pass the train partition only).

    Returns:
        float32 tensor of shape (C_head,); see :func:`class_weights_from_counts`.
    """
    return class_weights_from_counts(pixel_counts(cache, ids, head), method)


def class_weights_record(counts: Sequence[int] | np.ndarray, head: str, method: str = "inverse_sqrt") -> dict[str, Any]:
    """A JSON-able record of the class weights of ``head`` (to save with a run).

    Returns:
        ``{"head", "method", "formula", "weights": [...], "pixels": [...], "classes": {name: {"weight", "pixels"}}}``.
    """
    weights = class_weights_from_counts(counts, method).tolist()
    pixels = [int(c) for c in counts]
    names = default_taxonomy().names(head)
    if len(names) != len(pixels):
        raise DataError(f"class weights record: {len(pixels)} counts for head '{head}', which has {len(names)} classes")
    return {
        "head": head,
        "method": method,
        "formula": CLASS_WEIGHT_METHODS[method],
        "weights": weights,
        "pixels": pixels,
        "classes": {name: {"weight": w, "pixels": p} for name, w, p in zip(names, weights, pixels)},
    }

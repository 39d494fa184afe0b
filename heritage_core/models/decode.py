"""Predictions from head logits, with or without consistency with the label hierarchy.

Three ways to turn the logits of a :class:`~heritage_core.models.hierarchical.HierarchicalUPerNet`
into labels:

* **independent**: the argmax of each head on its own. Heads may disagree with the tree (a pixel
  predicted ``Staining`` by the fine head and ``Deposits`` by the coarse head).
* **derived**: coarse and binary labels read off the fine argmax through the taxonomy
  (``fine_to_coarse``, ``fine_to_binary``); consistent by construction, but ignores the upper heads.
* **consistent**: every root-to-leaf path is scored by the sum of the heads' log-probabilities,
  ``log p_binary(b(f)) + log p_coarse(c(f)) + log p_fine(f)`` for each of the 16 leaves ``f``; the best
  leaf is the fine label and its ancestors are the coarse and binary labels.

:func:`predict` returns, for every model, the keys ``binary``, ``coarse``, ``fine``,
``binary_from_fine`` and ``coarse_from_fine``:

* ``fine``: the argmax of the fine head; with ``consistent=True`` (hierarchical models) the best
  path's leaf.
* ``coarse``, ``binary``: the argmax of their own head (hierarchical, independent); the ancestors of
  the best leaf (hierarchical, ``consistent=True``); derived from ``fine`` (flat models).
* ``coarse_from_fine``, ``binary_from_fine``: always derived from ``fine`` through the taxonomy, so
  they equal ``coarse``/``binary`` except for a hierarchical model in independent mode.

:func:`violation_counts` counts the valid pixels where the independent argmaxes disagree with the
tree; counts add up over images, and :func:`violation_rate` is their ratio.
"""
from __future__ import annotations

from collections.abc import Mapping

import torch

from heritage_core.errors import ModelError
from heritage_core.taxonomy import HEADS, Taxonomy, default_taxonomy

__all__ = ["PRED_KEYS", "path_log_probs", "predict", "violation_counts", "violation_rate"]

#: Keys of the dict returned by :func:`predict`.
PRED_KEYS = ("binary", "coarse", "fine", "binary_from_fine", "coarse_from_fine")


def _check_logits(logits: Mapping[str, torch.Tensor], taxonomy: Taxonomy) -> None:
    if set(logits) not in ({"fine"}, set(HEADS)):
        raise ModelError(
            f"logits have heads {sorted(logits)}; expected all of {list(HEADS)} (hierarchical model) "
            f"or only 'fine' (flat model)"
        )
    shape = None
    for head, tensor in logits.items():
        expected = taxonomy.num_classes[head]
        if tensor.ndim != 4 or tensor.shape[1] != expected:
            raise ModelError(
                f"logits['{head}'] has shape {tuple(tensor.shape)}; expected (N, {expected}, H, W) for the "
                f"{expected} '{head}' labels of the taxonomy"
            )
        other = (tensor.shape[0], *tensor.shape[2:])
        if shape is not None and other != shape:
            raise ModelError(f"logits['{head}'] has N, H, W = {other} but another head has {shape}")
        shape = other


def path_log_probs(logits: Mapping[str, torch.Tensor], taxonomy: Taxonomy | None = None) -> torch.Tensor:
    """Log-probability of every root-to-leaf path: the sum of the heads' log-softmax along the path.

    Args:
        logits: head name -> logits, all of ``binary``, ``coarse`` and ``fine``.
        taxonomy: the label hierarchy; None for the ARTeFACT default.

    Returns:
        One score per fine leaf ``f``: ``log p_b(b(f)) + log p_c(c(f)) + log p_f(f)``.

    Raises:
        ModelError: heads missing, or channel counts that do not match the taxonomy.

    Shapes:
        logits[head]: (N, C_head, H, W); output: (N, C_fine, H, W).
    """
    taxonomy = taxonomy or default_taxonomy()
    _check_logits(logits, taxonomy)
    if set(logits) != set(HEADS):
        raise ModelError(f"path_log_probs needs the heads {list(HEADS)}, got {sorted(logits)}")
    fine = logits["fine"]
    ancestry = torch.as_tensor(taxonomy.ancestry(), device=fine.device)  # (C_fine, 3): binary, coarse, fine
    scores = _log_probs(fine)
    for column, head in ((0, "binary"), (1, "coarse")):
        scores = scores + _log_probs(logits[head]).index_select(1, ancestry[:, column])
    return scores


def _log_probs(logits: torch.Tensor) -> torch.Tensor:
    """Log-softmax over classes, computed in float32 at least (half-precision logits from autocast)."""
    return torch.log_softmax(logits, dim=1, dtype=torch.promote_types(logits.dtype, torch.float32))


def predict(
    logits: Mapping[str, torch.Tensor], consistent: bool = False, taxonomy: Taxonomy | None = None
) -> dict[str, torch.Tensor]:
    """Labels at every level from head logits (the module docstring says what each key holds).

    Args:
        logits: head name -> logits: all three heads (hierarchical) or ``fine`` only (flat).
        consistent: pick the best root-to-leaf path instead of each head's own argmax. Flat models
            give the same result either way.
        taxonomy: the label hierarchy; None for the ARTeFACT default.

    Returns:
        ``binary``, ``coarse``, ``fine``, ``binary_from_fine``, ``coarse_from_fine`` -> int64 labels.

    Raises:
        ModelError: heads other than all three or ``fine`` alone, or shapes that do not match the taxonomy.

    Shapes:
        logits[head]: (N, C_head, H, W); output[key]: (N, H, W).
    """
    taxonomy = taxonomy or default_taxonomy()
    _check_logits(logits, taxonomy)
    hierarchical = set(logits) == set(HEADS)
    if hierarchical and consistent:
        fine = path_log_probs(logits, taxonomy).argmax(dim=1)
    else:
        fine = logits["fine"].argmax(dim=1)
    derived = {
        "binary_from_fine": taxonomy.map_labels(fine, "fine", "binary"),
        "coarse_from_fine": taxonomy.map_labels(fine, "fine", "coarse"),
    }
    if hierarchical and not consistent:
        upper = {"binary": logits["binary"].argmax(dim=1), "coarse": logits["coarse"].argmax(dim=1)}
    else:
        upper = {"binary": derived["binary_from_fine"], "coarse": derived["coarse_from_fine"]}
    return {**upper, "fine": fine, **derived}


def violation_counts(
    outputs: Mapping[str, torch.Tensor], valid_mask: torch.Tensor | None = None, taxonomy: Taxonomy | None = None
) -> tuple[int, int]:
    """Count valid pixels whose binary, coarse and fine labels disagree with the tree.

    A pixel violates the tree when ``coarse != fine_to_coarse[fine]`` or
    ``binary != coarse_to_binary[coarse]``. Counts add up over images; their ratio is the rate.

    Args:
        outputs: head logits (4-D tensors, independent argmax taken here) or labels (3-D tensors,
            e.g. from :func:`predict`) with the keys ``binary``, ``coarse`` and ``fine``. Logits of a
            flat model are accepted and give no violation.
        valid_mask: True where the pixel counts (e.g. ``labels != IGNORE_INDEX``); None counts all.
        taxonomy: the label hierarchy; None for the ARTeFACT default.

    Returns:
        ``(violating, valid)`` pixel counts.

    Raises:
        ModelError: missing keys, mismatched shapes, or a mask that is not boolean.

    Shapes:
        outputs[head]: (N, C_head, H, W) logits or (N, H, W) labels; valid_mask: (N, H, W).
    """
    taxonomy = taxonomy or default_taxonomy()
    if outputs and all(t.ndim == 4 for t in outputs.values()):
        outputs = predict(outputs, consistent=False, taxonomy=taxonomy)
    missing = [h for h in HEADS if h not in outputs]
    if missing:
        raise ModelError(f"violation_counts needs labels for {list(HEADS)}; missing {missing}")
    fine, coarse, binary = outputs["fine"], outputs["coarse"], outputs["binary"]
    if not (fine.shape == coarse.shape == binary.shape) or fine.ndim != 3:
        raise ModelError(
            f"labels must all be (N, H, W); got binary {tuple(binary.shape)}, coarse {tuple(coarse.shape)}, "
            f"fine {tuple(fine.shape)}"
        )
    if valid_mask is None:
        valid_mask = torch.ones_like(fine, dtype=torch.bool)
    if valid_mask.dtype != torch.bool or valid_mask.shape != fine.shape:
        raise ModelError(
            f"valid_mask must be a bool tensor of shape {tuple(fine.shape)}, got {valid_mask.dtype} "
            f"{tuple(valid_mask.shape)}; build it as labels != IGNORE_INDEX"
        )
    wrong = (coarse != taxonomy.map_labels(fine, "fine", "coarse")) | (
        binary != taxonomy.map_labels(coarse, "coarse", "binary")
    )
    return int((wrong & valid_mask).sum()), int(valid_mask.sum())


def violation_rate(
    outputs: Mapping[str, torch.Tensor], valid_mask: torch.Tensor | None = None, taxonomy: Taxonomy | None = None
) -> float:
    """Share of valid pixels whose labels disagree with the tree, in [0, 1]; NaN without valid pixels.

    Args:
        outputs: head logits or labels, as for :func:`violation_counts`.
        valid_mask: True where the pixel counts; None counts all.
        taxonomy: the label hierarchy; None for the ARTeFACT default.

    Returns:
        ``violating / valid``.

    Raises:
        ModelError: as for :func:`violation_counts`.

    Shapes:
        outputs[head]: (N, C_head, H, W) logits or (N, H, W) labels; valid_mask: (N, H, W).
    """
    violating, valid = violation_counts(outputs, valid_mask, taxonomy)
    return violating / valid if valid else float("nan")

"""The paper's headline numbers across runs: every variant and its floor, over folds and seeds, with intervals.

:mod:`heritage_core.evaluation.dg` reduces each run to rows; this module aggregates runs, reading their per-image counts,
so that an interval can account for every source of variation that is varied (training seeds and test images,
:func:`heritage_core.evaluation.across_runs.hierarchical_bootstrap`). Three tables, written by notebook 04:

* :func:`headline_results` (``headline.csv``): per encoder, head, variant (and ``all_clean``, the all-Clean
  floor on the same images) and scope (``fold`` "" for the mean over folds, or one fold): ID, OOD and gap
  mIoU, each over the fold's common class set (classes labelled in at least two images of both of its test
  sets), mean over folds
  within each seed, then over seeds. A variant that lacks a (fold, seed) run the grid has is ``complete =
  False`` with no value (an "X" in the paper), never a mean of fewer runs.
* :func:`headline_comparisons` (``headline_comparisons.csv``): per pair of variants (and each variant against
  the floor), the mean over (fold, seed) of the paired ΔmIoU on the same test images, its hierarchical-bootstrap
  interval and a sign-flip p-value over the paired deltas (Holm-corrected over the table): the method effect
  across training randomness. The per-run paired tests of :func:`heritage_core.evaluation.dg.compare_variants` are the
  secondary table.
* :func:`budgets` (``budgets.csv``): per variant its ablation factors and training budget (optimiser steps,
  steps with the fine loss, summed learning rate; :func:`heritage_core.train.budget`), so that the ablation
  shows it compares at equal budget.
"""
from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from heritage_core.errors import ConfigError, DataError
from heritage_core.evaluation import N_PERMUTATIONS, N_RESAMPLES
from heritage_core.evaluation.across_runs import BootUnit, hierarchical_bootstrap, sign_flip_test
from heritage_core.evaluation.metrics import SegCounts, all_clean_counts
from heritage_core.evaluation.resample import mean_iou
from heritage_core.evaluation.stats import common_classes, holm, mean_iou_over
from heritage_core.evaluation.store import Evaluation

__all__ = ["FLOOR_VARIANT", "HEADLINE_COLUMNS", "COMPARISON_HEADLINE_COLUMNS", "BUDGET_COLUMNS",
           "headline_results", "headline_comparisons", "budgets"]

#: Variant name of the all-Clean floor in the headline tables.
FLOOR_VARIANT = "all_clean"
HEADLINE_COLUMNS = ("encoder", "head", "variant", "fold", "held_out", "partition", "mean", "low", "high", "n_folds",
                    "n_seeds", "n_runs", "complete", "n_classes")
COMPARISON_HEADLINE_COLUMNS = ("encoder", "head", "partition", "variant_a", "variant_b", "mean", "low", "high",
                               "n_pairs", "p_sign_flip", "p_holm", "significant", "complete")
BUDGET_COLUMNS = ("encoder", "variant", "loss", "schedule", "head_order", "epochs", "steps", "fine_steps",
                  "summed_lr", "n_runs")
_NAN = float("nan")


@dataclass
class _Run:
    """What the headline tables need of one evaluated run, for one head."""

    encoder: str
    variant: str
    fold: str
    held_out: str
    seed: int
    test_set: str
    id_counts: SegCounts
    ood_counts: SegCounts | None
    common: np.ndarray


def _runs(evaluations: Sequence[Evaluation], head: str) -> list[_Run]:
    out = []
    for ev in evaluations:
        e = ev.eval_info
        if "id_test" not in ev.evaluated_partitions:
            continue
        id_counts = ev.counts("id_test").get(head)
        if id_counts is None or len(id_counts) == 0:
            continue
        ood = ev.counts("ood_test").get(head) if "ood_test" in ev.evaluated_partitions else None
        common = common_classes(id_counts, ood) if ood is not None else common_classes(id_counts)
        out.append(_Run(str(e["encoder"]), str(e["variant"]), str(e["fold"]), str(e.get("held_out") or e["fold"]),
                        int(e["seed"]), f"{e['fold']}/{e.get('split_seed')}", id_counts.by_group(),
                        ood.by_group() if ood is not None else None, common))
    return out


def _floor(run: _Run) -> _Run:
    return _Run(run.encoder, FLOOR_VARIANT, run.fold, run.held_out, run.seed, run.test_set,
                all_clean_counts(run.id_counts), all_clean_counts(run.ood_counts) if run.ood_counts else None,
                run.common)


def _difference(first: Any, second: Any) -> Any:
    def statistic(i1: np.ndarray, u1: np.ndarray, i2: np.ndarray, u2: np.ndarray) -> np.ndarray:
        return np.asarray(first(i1, u1)) - np.asarray(second(i2, u2))

    return statistic


def _paired_delta(ia: np.ndarray, ua: np.ndarray, ib: np.ndarray, ub: np.ndarray) -> np.ndarray:
    """ΔmIoU = mIoU(b) − mIoU(a) of a paired unit's summed counts (a's arrays first, see :func:`_pair_unit`)."""
    return np.asarray(mean_iou(ib, ub)) - np.asarray(mean_iou(ia, ua))


def _unit(run: _Run, partition: str) -> tuple[BootUnit, Any] | None:
    stat = mean_iou_over(run.common) if run.ood_counts is not None else mean_iou
    ident = (f"{run.test_set}/id", (run.id_counts.intersection, run.id_counts.union))
    if partition == "id_test":
        return BootUnit(run.seed, (ident,)), stat
    if run.ood_counts is None:
        return None
    ood = (f"{run.test_set}/ood", (run.ood_counts.intersection, run.ood_counts.union))
    if partition == "ood_test":
        return BootUnit(run.seed, (ood,)), stat
    return BootUnit(run.seed, (ident, ood)), _difference(stat, stat)


def _aggregate(runs: list[_Run], partition: str, n_resamples: int, seed: int) -> tuple[float, float, float]:
    pairs = [u for u in (_unit(r, partition) for r in runs) if u is not None]
    if not pairs:
        return _NAN, _NAN, _NAN
    try:
        r = hierarchical_bootstrap([u for u, _ in pairs], [s for _, s in pairs], n_resamples=n_resamples, seed=seed)
    except DataError:
        return _NAN, _NAN, _NAN
    return float(r.estimate), float(r.low), float(r.high)


def headline_results(
    evaluations: Sequence[Evaluation],
    *,
    heads: Sequence[str] = ("fine",),
    n_resamples: int = N_RESAMPLES,
    seed: int = 0,
    expected: dict[str, set[tuple[str, int]]] | None = None,
) -> pd.DataFrame:
    """ID, OOD and gap mIoU of every variant and of the floor, over all folds and per fold (module docstring).

    Args:
        evaluations: evaluated runs.
        heads: scored heads.
        n_resamples: resamples of each hierarchical bootstrap.
        seed: bootstrap seed.
        expected: encoder -> the (fold, seed) cells of the grid (from the suite's plan); None takes the cells
            present for any variant of the encoder.

    Returns:
        Columns :data:`HEADLINE_COLUMNS`; ``fold`` "" is the mean over folds; ``n_classes`` the mean size of the
        common class sets.
    """
    rows = []
    for head in heads:
        runs = _runs(evaluations, head)
        for encoder in sorted({r.encoder for r in runs}):
            mine = [r for r in runs if r.encoder == encoder]
            cells = {(r.fold, r.seed) for r in mine} | set((expected or {}).get(encoder, set()))
            folds = sorted({f for f, _ in cells})
            held = {r.fold: r.held_out for r in mine}
            floor = {(r.fold, r.seed): _floor(r) for r in mine}
            by_variant = {v: [r for r in mine if r.variant == v] for v in dict.fromkeys(r.variant for r in mine)}
            by_variant[FLOOR_VARIANT] = list(floor.values())
            for variant, vruns in by_variant.items():
                for scope in ["", *folds]:
                    need = {c for c in cells if scope in ("", c[0])}
                    have = [r for r in vruns if scope in ("", r.fold)]
                    complete = need <= {(r.fold, r.seed) for r in have}
                    for part in ("id_test", "ood_test", "gap"):
                        mean, low, high = (_aggregate(have, part, n_resamples, seed) if complete
                                           else (_NAN, _NAN, _NAN))
                        rows.append(dict(encoder=encoder, head=head, variant=variant, fold=scope,
                                         held_out=held.get(scope, ""), partition=part, mean=mean, low=low,
                                         high=high, n_folds=len({r.fold for r in have}),
                                         n_seeds=len({r.seed for r in have}), n_runs=len(have), complete=complete,
                                         n_classes=float(np.mean([r.common.sum() for r in have])) if have else _NAN))
    return pd.DataFrame(rows, columns=list(HEADLINE_COLUMNS))


def _pair_unit(a: _Run, b: _Run, partition: str) -> BootUnit | None:
    ca, cb = (a.id_counts, b.id_counts) if partition == "id_test" else (a.ood_counts, b.ood_counts)
    if ca is None or cb is None:
        return None
    if ca.ids != cb.ids:
        raise DataError(f"headline_comparisons: {a.variant} and {b.variant} of fold '{a.fold}' seed {a.seed} were "
                        f"scored on different images; evaluate both on one manifest")
    return BootUnit(a.seed, ((f"{a.test_set}/{partition}", (ca.intersection, ca.union, cb.intersection,
                                                              cb.union)),))


def headline_comparisons(
    evaluations: Sequence[Evaluation],
    *,
    pairs: Sequence[tuple[str, str]] | None = None,
    partitions: Sequence[str] = ("id_test", "ood_test"),
    heads: Sequence[str] = ("fine",),
    n_resamples: int = N_RESAMPLES,
    n_permutations: int = N_PERMUTATIONS,
    seed: int = 0,
    alpha: float = 0.05,
    order: Sequence[str] = (),
) -> pd.DataFrame:
    """Mean paired ΔmIoU = mIoU(b) − mIoU(a) over (fold, seed), with its interval and a sign-flip test.

    Args:
        evaluations: evaluated runs.
        pairs: (a, b) variant pairs; None for every pair present (in ``order``) and every variant against the
            floor (``a`` = :data:`FLOOR_VARIANT`).
        partitions: test partitions.
        heads: scored heads.
        n_resamples: resamples of the hierarchical bootstrap.
        n_permutations: random sign patterns above 16 pairs.
        seed: seed of both.
        alpha: family-wise level of ``significant`` (Holm over the comparisons between variants; the floor
            comparisons are tested but kept out of the family).
        order: variant order for the default pairs.

    Returns:
        Columns :data:`COMPARISON_HEADLINE_COLUMNS`; ``complete`` False (no value) when a pair lacks a
        (fold, seed) cell the encoder's grid has.
    """
    rows = []
    for head in heads:
        runs = _runs(evaluations, head)
        for encoder in sorted({r.encoder for r in runs}):
            mine = [r for r in runs if r.encoder == encoder]
            cells = {(r.fold, r.seed) for r in mine}
            index = {(r.variant, r.fold, r.seed): r for r in mine}
            for r in mine:
                index.setdefault((FLOOR_VARIANT, r.fold, r.seed), _floor(r))
            present = sorted({r.variant for r in mine}, key=lambda v: (list(order).index(v) if v in order else 99, v))
            wanted = (list(pairs) if pairs is not None else
                      [(FLOOR_VARIANT, v) for v in present] + list(itertools.combinations(present, 2)))
            for a, b in wanted:
                matched = sorted(c for c in cells if (a, *c) in index and (b, *c) in index)
                complete = set(matched) == cells
                for part in partitions:
                    units = [u for c in matched if (u := _pair_unit(index[(a, *c)], index[(b, *c)], part))]
                    row = dict(encoder=encoder, head=head, partition=part, variant_a=a, variant_b=b, mean=_NAN,
                               low=_NAN, high=_NAN, n_pairs=len(units), p_sign_flip=_NAN, p_holm=_NAN,
                               significant=False, complete=complete)
                    if complete and units:
                        try:
                            boot = hierarchical_bootstrap(units, _paired_delta, n_resamples=n_resamples, seed=seed)
                            row.update(mean=float(boot.estimate), low=float(boot.low), high=float(boot.high))
                        except DataError:  # a test set of one image: no interval, the test still runs
                            pass
                        deltas = [float(_paired_delta(*[a_.sum(0)[None] for a_ in u.parts[0][1]])[0]) for u in units]
                        row["p_sign_flip"] = sign_flip_test(deltas, n_permutations=n_permutations, seed=seed)
                    rows.append(row)
    out = pd.DataFrame(rows, columns=list(COMPARISON_HEADLINE_COLUMNS))
    family = out["p_sign_flip"].notna() & (out["variant_a"] != FLOOR_VARIANT)
    if family.any():
        out.loc[family, "p_holm"] = holm(out.loc[family, "p_sign_flip"].to_numpy())
        out["significant"] = (out["p_holm"] < alpha).fillna(False).astype(bool)
    return out


def budgets(evaluations: Sequence[Evaluation]) -> pd.DataFrame:
    """Per encoder and variant: the ablation factors and the training budget, mean over its runs.

    Steps per epoch are the trainer's (:func:`heritage_core.train.variants.steps_per_epoch`).

    Returns:
        Columns :data:`BUDGET_COLUMNS` (``summed_lr``: the sum of the learning rate over all optimiser steps).
    """
    from heritage_core.train.variants import Stage, budget, load_variants, steps_per_epoch

    rows = []
    for ev in evaluations:
        info = ev.run_info
        params = info.get("params", {})
        n_train, batch = int(info.get("n_images", {}).get("train", 0)), int(params.get("batch_size", 1))
        steps = steps_per_epoch(n_train, batch, params.get("batches_per_epoch"), params.get("max_batches_per_epoch"))
        stages = [Stage(s["name"], int(s["epochs"]), float(s["lr"]), float(s["warmup_fraction"]),
                        tuple(s["loss_heads"]), tuple(s["trainable"])) for s in info.get("stages", [])]
        try:
            factors = load_variants(params.get("variants_file")).get(str(info.get("variant")))
            factors = factors.factors if factors is not None else {}
        except ConfigError:  # a variants file that moved: the factors are descriptive only
            factors = {}
        rows.append(dict(encoder=str(info.get("encoder")), variant=str(info.get("variant")),
                         loss=factors.get("loss", ""), schedule=factors.get("schedule", ""),
                         head_order=factors.get("head_order", ""), **budget(stages, steps)))
    if not rows:
        return pd.DataFrame(columns=list(BUDGET_COLUMNS))
    df = pd.DataFrame(rows)
    keys = ["encoder", "variant", "loss", "schedule", "head_order"]
    out = df.groupby(keys, sort=False, as_index=False).agg(
        epochs=("epochs", "mean"), steps=("steps", "mean"), fine_steps=("fine_steps", "mean"),
        summed_lr=("summed_lr", "mean"), n_runs=("steps", "size"))
    return out[list(BUDGET_COLUMNS)]

"""The domain-generalisation gap, the tidy results table and paired comparisons of the variants.

Records, not objects, cross this boundary (DomainBed's ``collect_results`` habit): every evaluated run
directory (``run.json`` + ``eval/``, see :mod:`heritage_core.evaluation.evaluate`) becomes rows of one tidy table,
the single source of every later table and figure. :func:`collect_results` builds it and
:func:`write_results` stores it as ``results.csv`` and ``results.parquet``. Columns (:data:`RESULT_COLUMNS`):

``suite, run_id, variant, arch, encoder, fold, held_out, seed, partition, head, metric, class_name, value,
ci_low, ci_high, n_images, domain``

* ``partition``: ``val``, ``id_test``, ``ood_test``, or ``gap`` (ID − OOD, see below).
* ``head``: a scored head of :mod:`heritage_core.evaluation.evaluate` (``binary``, ``coarse``, ``fine``,
  ``binary_from_fine``, ``coarse_from_fine``, ``*_consistent``), or ``hierarchy`` for the violation rate.
* ``metric``: ``miou``, ``macc``, ``mdice``, ``aacc``, ``floor_miou`` (the all-Clean predictor on the same
  images, :func:`heritage_core.evaluation.metrics.all_clean_counts`) and ``violation_rate`` (``class_name`` ""); for
  ``id_test``/``ood_test`` of a run with both, ``miou_common`` and ``floor_miou_common`` (over the classes
  labelled in at least two images of both test sets); per class (``class_name`` set): ``iou``, ``acc``, ``dice``, ``support_px``, ``floor_iou``; per domain (``domain`` set, e.g.
  ``material=Paper``): ``domain_miou``, ``domain_macc``, ``domain_mdice``, ``domain_aacc``. Domain rows carry
  their own metric names so a filter on ``metric == "miou"`` never mixes them in.
* ``value`` is a fraction in [0, 1] (pixels for ``support_px``); NaN where undefined
  (:data:`~heritage_core.evaluation.metrics.ABSENT_CLASS_RULE`). ``ci_low``/``ci_high``: 95 % image-level bootstrap
  interval (``miou`` and ``iou``), NaN otherwise. ``n_images``: images scored on that head (for ``gap``
  rows the ID plus the OOD images).

**DG gap.** For each run and scored head, ``gap miou = miou_common(id_test) − miou_common(ood_test)``: both
over one class set, the classes with labelled pixels in both test sets of the fold, fixed across bootstrap
resamples (:func:`heritage_core.evaluation.stats.common_classes`); a class that only one set holds, or that is predicted
but absent, would otherwise move the gap with the sets' sizes and class mix (``benchmarks/bench_calibration``).
``n_classes_common`` records the set's size, ``floor_miou`` the floor's gap, ``aacc`` the pixel-accuracy gap,
and per-class ``iou`` rows the per-class gaps (NaN outside the common set). Intervals are two-sample
bootstraps that resample each test set independently, by source group (:func:`heritage_core.evaluation.stats.gap_ci`).
Runs of the ``random`` protocol have no ``ood_test`` and so no gap rows. :func:`summarise_over_folds` then averages
over folds within each seed and reports mean ± SE over seeds (SE with ddof=1).

**Paired comparisons.** :func:`compare_variants` compares variants trained with the same fold, encoder and
seed on the same test images: ΔmIoU = mIoU(b) − mIoU(a) with a paired bootstrap interval and a paired
permutation p-value; p-values are Holm-corrected across all comparisons of the table.
"""
from __future__ import annotations

import io
import itertools
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from heritage_core.errors import ConfigError, DataError, RunError
from heritage_core.evaluation import N_PERMUTATIONS, N_RESAMPLES
from heritage_core.evaluation.metrics import SegCounts, all_clean_counts
from heritage_core.evaluation.resample import bootstrap_ci, class_iou, mean_iou
from heritage_core.evaluation.stats import (
    common_classes,
    gap_ci,
    holm,
    mean_iou_over,
    mean_se,
    paired_bootstrap,
    paired_permutation_test,
)
from heritage_core.evaluation.store import BASE_HEAD, Evaluation, load_evaluation
from heritage_core.runs import atomic_write_bytes, atomic_write_text
from heritage_core.train.variants import load_variants

__all__ = [
    "RESULT_COLUMNS",
    "COMPARISON_COLUMNS",
    "VARIANT_ORDER",
    "GAP_METRICS",
    "find_run_dirs",
    "load_evaluations",
    "run_rows",
    "collect_results",
    "write_results",
    "read_results",
    "gap_table",
    "summarise_over_folds",
    "compare_variants",
    "write_comparisons",
    "summarise_comparisons",
]

#: Columns of the tidy results table, in order.
RESULT_COLUMNS = (
    "suite", "run_id", "variant", "arch", "encoder", "fold", "held_out", "seed", "partition", "head", "metric",
    "class_name", "value", "ci_low", "ci_high", "n_images", "domain",
)
#: Columns of ``comparisons.csv``, in order.
COMPARISON_COLUMNS = (
    "suite", "fold", "held_out", "encoder", "seed", "partition", "head", "metric", "variant_a", "variant_b",
    "value_a", "value_b", "delta", "ci_low", "ci_high", "p_value", "p_holm", "significant", "n_images",
)
#: The ablation's variants, from the baseline to the full method (the order of ``configs/variants.yaml``);
#: comparisons go left to right.
VARIANT_ORDER = tuple(load_variants())
#: Aggregate metrics that get a gap row: mIoU over the common class set (with an interval) and aAcc (pixels,
#: no class set). mAcc and mDice would average different class sets in the two test sets and get none.
GAP_METRICS = ("miou", "aacc")
_AGGREGATES = ("miou", "macc", "mdice", "aacc")
_CLASS_METRICS = (("iou", "iou"), ("acc", "acc"), ("dice", "dice"), ("support_px", "support_px"))
_NAN = float("nan")


# --------------------------------------------------------------------------- finding runs
def find_run_dirs(runs: str | Path | Sequence[str | Path]) -> list[Path]:
    """Run directories named by a suite folder, a folder of runs, a single run directory or a list of them.

    A folder without ``run.json`` is searched recursively for ``run.json`` files (a suite's ``runs/``).

    Args:
        runs: a suite directory, any folder holding run directories, one run directory, or a list of run
            directories.

    Returns:
        Run directories, sorted by path.

    Raises:
        RunError: a path that does not exist, a listed folder without ``run.json``, or no run found.
    """
    if isinstance(runs, (str, Path)):
        root = Path(runs)
        if not root.is_dir():
            raise RunError(f"'{root}' is not a folder; pass a suite directory, a run directory or a list of run dirs")
        found = [root] if (root / "run.json").is_file() else sorted(p.parent for p in root.rglob("run.json"))
        found = [p for p in found if not any(part.startswith(".") for part in p.relative_to(root).parts)]
    else:
        found = []
        for r in runs:
            if not (Path(r) / "run.json").is_file():
                raise RunError(f"'{r}' is not a run directory (no run.json); list run directories only")
            found.append(Path(r))
    if not found:
        raise RunError(f"no run directories (folders with run.json) under {runs!r}; train runs first")
    return sorted(found)


def load_evaluations(runs: str | Path | Sequence[str | Path], caller: str) -> list[Evaluation]:
    """The evaluations of every evaluated run under ``runs`` (runs not evaluated yet are passed over).

    Args:
        runs: as for :func:`find_run_dirs`.
        caller: name of the calling function, for the error message.

    Raises:
        RunError: no run under ``runs`` has been evaluated.
    """
    evaluations = []
    for run_dir in find_run_dirs(runs):
        try:
            evaluations.append(load_evaluation(run_dir))
        except RunError:
            continue
    if not evaluations:
        raise RunError(f"{caller}: no evaluated run under {runs!r}; evaluate runs first (03_evaluate)")
    return evaluations


def _suite_name(run_dir: Path) -> str:
    """Name of the suite holding ``run_dir`` (``suites/<name>/runs/...``), or "" outside a suite."""
    for parent in run_dir.resolve().parents:
        if parent.name == "runs" and (parent.parent / "profile.yaml").is_file():
            return parent.parent.name
    return ""


def _run_id(evaluation: Evaluation) -> str:
    return str(evaluation.run_info.get("params_hash") or evaluation.run_dir.name)


# --------------------------------------------------------------------------- one run
def _num(value: Any) -> float:
    return _NAN if value is None else float(value)


def _ci(pair: Sequence[Any] | None) -> tuple[float, float]:
    return (_NAN, _NAN) if not pair else (_num(pair[0]), _num(pair[1]))


def _partition_rows(part: str, scores: dict[str, Any]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for head in [h for h in BASE_HEAD if h in scores["heads"]]:
        h = scores["heads"][head]
        n = h["n_images"]
        for metric in _AGGREGATES:
            low, high = _ci(h.get("miou_ci")) if metric == "miou" else (_NAN, _NAN)
            rows.append(dict(partition=part, head=head, metric=metric, class_name="", value=_num(h[metric]),
                             ci_low=low, ci_high=high, n_images=n, domain=""))
        floor = h.get("floor") or {}
        low, high = _ci(floor.get("miou_ci"))
        rows.append(dict(partition=part, head=head, metric="floor_miou", class_name="", value=_num(floor.get("miou")),
                         ci_low=low, ci_high=high, n_images=n, domain=""))
        cls = h["classes"]
        for k, name in enumerate(cls["names"]):
            rows.append(dict(partition=part, head=head, metric="floor_iou", class_name=name,
                             value=_num((floor.get("iou") or [None] * len(cls["names"]))[k]), ci_low=_NAN,
                             ci_high=_NAN, n_images=n, domain=""))
            for metric, key in _CLASS_METRICS:
                low, high = ((_num(cls["iou_ci_low"][k]), _num(cls["iou_ci_high"][k])) if metric == "iou"
                             else (_NAN, _NAN))
                rows.append(dict(partition=part, head=head, metric=metric, class_name=name, value=_num(cls[key][k]),
                                 ci_low=low, ci_high=high, n_images=n, domain=""))
    if scores.get("violation"):
        v = scores["violation"]
        rows.append(dict(partition=part, head="hierarchy", metric="violation_rate", class_name="",
                         value=_num(v["rate"]), ci_low=_NAN, ci_high=_NAN, n_images=scores["n_images"], domain=""))
    for column, table in scores.get("domains", {}).items():
        for value, heads in table.items():
            for head, d in heads.items():
                for metric in _AGGREGATES:
                    rows.append(dict(partition=part, head=head, metric=f"domain_{metric}", class_name="",
                                     value=_num(d[metric]), ci_low=_NAN, ci_high=_NAN, n_images=d["n_images"],
                                     domain=f"{column}={value}"))
    return rows


def _gap_rows(evaluation: Evaluation, n_resamples: int, seed: int) -> list[dict[str, Any]]:
    """Gap rows of one run, every mIoU over the classes labelled in both test sets (:func:`~heritage_core.evaluation.stats.common_classes`)."""
    parts = evaluation.metrics["partitions"]
    if not all(p in evaluation.evaluated_partitions for p in ("id_test", "ood_test")):
        return []
    id_counts, ood_counts = evaluation.counts("id_test"), evaluation.counts("ood_test")
    rows: list[dict[str, Any]] = []
    for head in evaluation.scored_heads("id_test"):
        h_id, h_ood = parts["id_test"]["heads"][head], parts["ood_test"]["heads"].get(head)
        if h_id is None or h_ood is None or head not in ood_counts:
            continue
        c_id, c_ood = id_counts[head], ood_counts[head]
        common = common_classes(c_id, c_ood)
        n = len(c_id) + len(c_ood)
        enough = len(c_id.by_group()) >= 2 and len(c_ood.by_group()) >= 2
        statistic = mean_iou_over(common)
        models = {"": (c_id, c_ood), "floor_": (all_clean_counts(c_id), all_clean_counts(c_ood))}
        for prefix, (a, b) in models.items():
            for part, counts in (("id_test", a), ("ood_test", b)):
                value = float(statistic(counts.intersection.sum(0), counts.union.sum(0)))
                ci = bootstrap_ci(counts.by_group(), statistic, n_resamples=n_resamples, seed=seed) if enough else None
                rows.append(dict(partition=part, head=head, metric=f"{prefix}miou_common", class_name="", value=value,
                                 ci_low=float(ci.low) if ci else _NAN, ci_high=float(ci.high) if ci else _NAN,
                                 n_images=len(counts), domain=""))
            gap = gap_ci(a, b, classes=common, n_resamples=n_resamples, seed=seed) if enough else None
            value = (float(statistic(a.intersection.sum(0), a.union.sum(0)))
                     - float(statistic(b.intersection.sum(0), b.union.sum(0))))
            rows.append(dict(partition="gap", head=head, metric=f"{prefix}miou", class_name="", value=value,
                             ci_low=float(gap.low) if gap else _NAN, ci_high=float(gap.high) if gap else _NAN,
                             n_images=n, domain=""))
        rows.append(dict(partition="gap", head=head, metric="n_classes_common", class_name="",
                         value=float(common.sum()), ci_low=_NAN, ci_high=_NAN, n_images=n, domain=""))
        rows.append(dict(partition="gap", head=head, metric="aacc", class_name="",
                         value=_num(h_id["aacc"]) - _num(h_ood["aacc"]), ci_low=_NAN, ci_high=_NAN, n_images=n,
                         domain=""))
        class_ci = gap_ci(c_id, c_ood, class_iou, n_resamples=n_resamples, seed=seed) if enough else None
        for k, name in enumerate(h_id["classes"]["names"]):
            if not common[k]:  # outside the common set: no comparable per-class gap
                rows.append(dict(partition="gap", head=head, metric="iou", class_name=name, value=_NAN,
                                 ci_low=_NAN, ci_high=_NAN, n_images=n, domain=""))
                continue
            low, high = (float(class_ci.low[k]), float(class_ci.high[k])) if class_ci else (_NAN, _NAN)
            rows.append(dict(partition="gap", head=head, metric="iou", class_name=name,
                             value=_num(h_id["classes"]["iou"][k]) - _num(h_ood["classes"]["iou"][k]),
                             ci_low=low, ci_high=high, n_images=n, domain=""))
    return rows


def run_rows(
    evaluation: Evaluation, *, suite: str | None = None, n_resamples: int = N_RESAMPLES, seed: int = 0
) -> list[dict[str, Any]]:
    """The tidy rows of one evaluated run (its partitions and, with ID and OOD, its DG gap).

    Args:
        evaluation: the run's evaluation (:func:`heritage_core.evaluation.store.load_evaluation`).
        suite: suite name for the ``suite`` column; None to infer it from the run's path.
        n_resamples: bootstrap resamples of the gap intervals.
        seed: bootstrap seed.

    Returns:
        One dict per row with the keys :data:`RESULT_COLUMNS`.
    """
    e, r = evaluation.eval_info, evaluation.run_info
    ident = dict(
        suite=_suite_name(evaluation.run_dir) if suite is None else suite,
        run_id=_run_id(evaluation),
        variant=str(e.get("variant") or r.get("variant") or ""),
        arch=str(e.get("arch") or r.get("arch") or ""),
        encoder=str(e.get("encoder") or r.get("encoder") or ""),
        fold=str(e.get("fold") or r.get("fold") or ""),
        held_out=str(e.get("held_out") or ""),
        seed=int(e.get("seed") if e.get("seed") is not None else r.get("seed", -1)),
    )
    rows = []
    for part in evaluation.evaluated_partitions:
        rows += _partition_rows(part, evaluation.metrics["partitions"][part])
    rows += _gap_rows(evaluation, n_resamples, seed)
    return [{**ident, **row} for row in rows]


# --------------------------------------------------------------------------- the table
def collect_results(
    runs: str | Path | Sequence[str | Path],
    *,
    suite: str | None = None,
    n_resamples: int = N_RESAMPLES,
    seed: int = 0,
    missing: str = "warn",
) -> pd.DataFrame:
    """The tidy results table of every evaluated run (module docstring).

    Args:
        runs: a suite directory, a folder of run directories, one run directory, or a list of them.
        suite: value of the ``suite`` column; None to infer it from each run's path
            (``suites/<name>/runs/...``), "" outside a suite.
        n_resamples: bootstrap resamples of the gap intervals.
        seed: bootstrap seed.
        missing: what to do with a run that has no evaluation: ``warn`` (leave it out, with a warning naming
            it) or ``error``.

    Returns:
        The table, columns :data:`RESULT_COLUMNS`, rows ordered by fold, variant, encoder, seed, partition.

    Raises:
        ConfigError: a bad ``missing``.
        RunError: no run found, or (``missing="error"``) a run without evaluation.
    """
    if missing not in ("warn", "error"):
        raise ConfigError(f"collect_results: missing is {missing!r}; allowed are 'warn' and 'error'")
    rows: list[dict[str, Any]] = []
    skipped: list[str] = []
    for run_dir in find_run_dirs(runs):
        try:
            evaluation = load_evaluation(run_dir)
        except RunError:
            if missing == "error":
                raise
            skipped.append(str(run_dir))
            continue
        rows += run_rows(evaluation, suite=suite, n_resamples=n_resamples, seed=seed)
    if skipped:
        warnings.warn(f"collect_results: {len(skipped)} run(s) without evaluation left out: {skipped[:5]}; "
                      f"evaluate them (03_evaluate) to include them", UserWarning, stacklevel=2)
    df = pd.DataFrame(rows, columns=list(RESULT_COLUMNS))
    df["seed"] = df["seed"].astype("int64")
    df["n_images"] = df["n_images"].astype("int64")
    for col in ("value", "ci_low", "ci_high"):
        df[col] = df[col].astype("float64")
    return df.reset_index(drop=True)


def _write_table(df: pd.DataFrame, out_dir: Path, stem: str) -> dict[str, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    csv_path = atomic_write_text(out_dir / f"{stem}.csv", df.to_csv(index=False))
    buffer = io.BytesIO()
    df.to_parquet(buffer, index=False)
    return {"csv": csv_path, "parquet": atomic_write_bytes(out_dir / f"{stem}.parquet", buffer.getvalue())}


def write_results(df: pd.DataFrame, out_dir: str | Path) -> dict[str, Path]:
    """Write the tidy table as ``results.csv`` and ``results.parquet`` under ``out_dir``, atomically.

    Returns:
        ``{"csv": path, "parquet": path}``.

    Raises:
        ConfigError: the frame lacks columns of :data:`RESULT_COLUMNS`.
    """
    missing = [c for c in RESULT_COLUMNS if c not in df.columns]
    if missing:
        raise ConfigError(f"write_results: the table lacks columns {missing}; build it with collect_results")
    return _write_table(df[list(RESULT_COLUMNS)], Path(out_dir), "results")


def read_results(path: str | Path) -> pd.DataFrame:
    """Read ``results.parquet`` (or ``results.csv``), or the one in a folder.

    Raises:
        RunError: no results table at ``path``.
    """
    p = Path(path)
    if p.is_dir():
        p = p / "results.parquet" if (p / "results.parquet").is_file() else p / "results.csv"
    if not p.is_file():
        raise RunError(f"no results table at '{path}'; write one with collect_results + write_results (04_dg_gap)")
    if p.suffix == ".parquet":
        return pd.read_parquet(p)
    return pd.read_csv(p, keep_default_na=False, na_values=[""], dtype={"class_name": str, "domain": str,
                                                                        "held_out": str, "suite": str})


# --------------------------------------------------------------------------- views
def gap_table(df: pd.DataFrame, head: str = "fine", metric: str = "miou") -> pd.DataFrame:
    """ID, OOD and gap side by side, one row per run with a gap (runs of the ``random`` protocol have none).

    Args:
        df: the tidy table.
        head: scored head.
        metric: aggregate metric (``miou``, ``macc``, ``mdice``, ``aacc``).

    Returns:
        Columns ``variant, encoder, fold, held_out, seed, id_test, ood_test, gap, gap_ci_low, gap_ci_high``;
        for ``miou`` the ID and OOD values are ``miou_common`` (over the run's common class set, as its gap is),
        so ``gap = id_test - ood_test``.
    """
    keys = ["variant", "encoder", "fold", "held_out", "seed"]
    df = df[df["run_id"].isin(df.loc[df["partition"] == "gap", "run_id"])]
    base = (df["head"] == head) & (df["class_name"] == "") & (df["domain"] == "")
    side = "miou_common" if metric == "miou" else metric
    sel = df[base & (((df["metric"] == side) & df["partition"].isin(["id_test", "ood_test"]))
                     | ((df["metric"] == metric) & (df["partition"] == "gap")))]
    wide = sel.pivot_table(index=keys, columns="partition", values="value", aggfunc="first")
    gap = sel[sel["partition"] == "gap"].set_index(keys)[["ci_low", "ci_high"]].rename(
        columns={"ci_low": "gap_ci_low", "ci_high": "gap_ci_high"})
    out = wide.reindex(columns=["id_test", "ood_test", "gap"]).join(gap)
    return out.reset_index().sort_values(keys, key=_variant_key).reset_index(drop=True)


def _variant_key(col: pd.Series) -> pd.Series:
    if col.name == "variant":
        return col.map(lambda v: (VARIANT_ORDER.index(v) if v in VARIANT_ORDER else len(VARIANT_ORDER), v))
    return col


def summarise_over_folds(
    df: pd.DataFrame,
    partitions: Sequence[str] = ("id_test", "ood_test", "gap"),
    metrics: Sequence[str] = ("miou",),
    heads: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Per variant: the mean over folds within each seed, then mean ± SE over seeds (ddof=1).

    Args:
        df: the tidy table.
        partitions: partitions to summarise (``gap`` included).
        metrics: aggregate metrics.
        heads: scored heads; None for all.

    Returns:
        Columns ``variant, encoder, partition, head, metric, mean, se, n_seeds, n_folds`` (``n_folds``: folds
        per seed, the smallest over seeds); SE is NaN with a single seed.
    """
    sel = df[df["partition"].isin(partitions) & df["metric"].isin(metrics) & (df["class_name"] == "")
             & (df["domain"] == "")]
    if heads is not None:
        sel = sel[sel["head"].isin(heads)]
    keys = ["variant", "encoder", "partition", "head", "metric"]
    per_seed = sel.groupby([*keys, "seed"], as_index=False).agg(value=("value", "mean"), n_folds=("fold", "nunique"))
    rows = []
    for key, group in per_seed.groupby(keys):
        mean, se = mean_se(group["value"].to_numpy())
        rows.append(dict(zip(keys, key), mean=mean, se=se, n_seeds=len(group), n_folds=int(group["n_folds"].min())))
    out = pd.DataFrame(rows, columns=[*keys, "mean", "se", "n_seeds", "n_folds"])
    return out.sort_values(keys, key=_variant_key).reset_index(drop=True)


# --------------------------------------------------------------------------- paired comparisons
def _ordered_pairs(variants: Iterable[str]) -> list[tuple[str, str]]:
    present = sorted(set(variants), key=lambda v: (VARIANT_ORDER.index(v) if v in VARIANT_ORDER else 99, v))
    return list(itertools.combinations(present, 2))


def compare_variants(
    runs: str | Path | Sequence[str | Path],
    *,
    pairs: Sequence[tuple[str, str]] | None = None,
    partitions: Sequence[str] = ("id_test", "ood_test"),
    heads: Sequence[str] = ("fine",),
    n_resamples: int = N_RESAMPLES,
    n_permutations: int = N_PERMUTATIONS,
    seed: int = 0,
    alpha: float = 0.05,
    suite: str | None = None,
) -> pd.DataFrame:
    """Paired comparisons of variants on the same test images, Holm-corrected across the whole table.

    Runs are paired when they share protocol, fold, split seed, encoder and seed (and so the manifest and its
    test images). For
    each pair (a, b), partition and head: Δ = mIoU(b) − mIoU(a) with a paired bootstrap interval
    (:func:`heritage_core.evaluation.stats.paired_bootstrap`) and a two-sided paired permutation p-value
    (:func:`~heritage_core.evaluation.stats.paired_permutation_test`); ``p_holm`` adjusts every p-value of the table
    as one family (:func:`~heritage_core.evaluation.stats.holm`), and ``significant`` is ``p_holm < alpha``.

    Args:
        runs: a suite directory, a folder of run directories, or a list of run directories (evaluated).
        pairs: (a, b) variant pairs; None for every pair present, ordered as :data:`VARIANT_ORDER`.
        partitions: evaluated partitions to compare on.
        heads: scored heads to compare.
        n_resamples: bootstrap resamples.
        n_permutations: permutation test draws.
        seed: seed of both.
        alpha: family-wise error level for ``significant``.
        suite: value of the ``suite`` column; None to infer it from the paths.

    Returns:
        Columns :data:`COMPARISON_COLUMNS` (``metric`` is ``miou``); empty when nothing is paired.

    Raises:
        RunError: no evaluated run.
        DataError: paired runs scored on different images (different manifests).
    """
    evaluations = load_evaluations(runs, "compare_variants")
    groups: dict[tuple[str, str, str, str, int], dict[str, Evaluation]] = {}
    for ev in evaluations:
        e = ev.eval_info
        key = (str(e.get("protocol")), str(e["fold"]), str(e.get("split_seed")), str(e["encoder"]), int(e["seed"]))
        groups.setdefault(key, {})[str(e["variant"])] = ev
    rows: list[dict[str, Any]] = []
    for (_, fold, _, encoder, run_seed), by_variant in sorted(groups.items()):
        wanted = _ordered_pairs(by_variant) if pairs is None else [p for p in pairs if set(p) <= set(by_variant)]
        for a, b in wanted:
            ev_a, ev_b = by_variant[a], by_variant[b]
            for part in partitions:
                if part not in ev_a.evaluated_partitions or part not in ev_b.evaluated_partitions:
                    continue
                counts_a, counts_b = ev_a.counts(part), ev_b.counts(part)
                for head in heads:
                    if head not in counts_a or head not in counts_b:
                        continue
                    rows.append(_compare(counts_a[head], counts_b[head], n_resamples, n_permutations, seed) | dict(
                        suite=_suite_name(ev_a.run_dir) if suite is None else suite, fold=fold,
                        held_out=str(ev_a.eval_info.get("held_out") or ""), encoder=encoder, seed=run_seed,
                        partition=part, head=head, metric="miou", variant_a=a, variant_b=b))
    out = pd.DataFrame(rows, columns=list(COMPARISON_COLUMNS))
    if len(out):
        valid = out["p_value"].notna()
        out.loc[valid, "p_holm"] = holm(out.loc[valid, "p_value"].to_numpy())
        out["significant"] = out["p_holm"] < alpha
    return out


def _compare(a: SegCounts, b: SegCounts, n_resamples: int, n_permutations: int, seed: int) -> dict[str, Any]:
    """Δ = mIoU(b) − mIoU(a) on the ids of ``a`` (``b`` reordered to match)."""
    if set(a.ids) != set(b.ids):
        raise DataError(f"compare_variants: head '{a.head}' was scored on {len(a)} images in one run and {len(b)} "
                        f"in the other, {len(set(a.ids) ^ set(b.ids))} ids differ; paired runs must share the "
                        f"manifest (same fold and split seed). Re-evaluate them on one manifest")
    b = b.select(a.ids) if b.ids != a.ids else b
    value_a = float(mean_iou(a.intersection.sum(0), a.union.sum(0)))
    value_b = float(mean_iou(b.intersection.sum(0), b.union.sum(0)))
    row = dict(value_a=value_a, value_b=value_b, delta=value_b - value_a, ci_low=_NAN, ci_high=_NAN,
               p_value=_NAN, p_holm=_NAN, n_images=len(a))
    if len(a) >= 2:
        boot = paired_bootstrap(b, a, n_resamples=n_resamples, seed=seed)
        perm = paired_permutation_test(b, a, n_permutations=n_permutations, seed=seed)
        row.update(ci_low=float(boot.low), ci_high=float(boot.high), p_value=float(perm.pvalue))
    return row


def write_comparisons(df: pd.DataFrame, out_dir: str | Path) -> Path:
    """Write the comparisons as ``comparisons.csv`` under ``out_dir``, atomically; returns its path."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    return atomic_write_text(out_dir / "comparisons.csv", df.to_csv(index=False))


def summarise_comparisons(comparisons: pd.DataFrame) -> pd.DataFrame:
    """Δ across seeds: mean ± SE (ddof=1) of ``delta`` per fold, encoder, partition, head and variant pair.

    Returns:
        Columns ``fold, held_out, encoder, partition, head, metric, variant_a, variant_b, delta_mean, delta_se,
        n_seeds, n_significant`` (seeds whose Holm-corrected comparison is significant).
    """
    keys = ["fold", "held_out", "encoder", "partition", "head", "metric", "variant_a", "variant_b"]
    rows = []
    for key, group in comparisons.groupby(keys, sort=False):
        mean, se = mean_se(group["delta"].to_numpy())
        rows.append(dict(zip(keys, key), delta_mean=mean, delta_se=se, n_seeds=len(group),
                         n_significant=int(group["significant"].fillna(False).astype(bool).sum())))
    return pd.DataFrame(rows, columns=[*keys, "delta_mean", "delta_se", "n_seeds", "n_significant"])

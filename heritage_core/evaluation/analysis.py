"""Notebook ``04_dg_gap``'s orchestrator: its parameters validated in one call and every file it writes.

:func:`run_dg_analysis` collects the evaluated runs into the results table (:mod:`heritage_core.evaluation.dg`),
writes the gap, summary and paired-comparison tables and the headline numbers
(:mod:`heritage_core.evaluation.headline`), all under one output folder; the notebook then only displays.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from heritage_core.errors import ConfigError
from heritage_core.evaluation import N_PERMUTATIONS, N_RESAMPLES
from heritage_core.evaluation.dg import (
    VARIANT_ORDER,
    collect_results,
    compare_variants,
    find_run_dirs,
    gap_table,
    load_evaluations,
    summarise_over_folds,
    write_comparisons,
    write_results,
)
from heritage_core.evaluation.store import BASE_HEAD, Evaluation
from heritage_core.runs import atomic_write_text

__all__ = ["SMOKE_RESAMPLES", "DGParams", "check_dg_params", "run_dg_analysis", "write_headline"]


#: Resamples and permutations in a smoke run of notebook 04.
SMOKE_RESAMPLES = 200


@dataclass(frozen=True)
class DGParams:
    """Validated parameters of notebook 04 (see :func:`check_dg_params`)."""

    runs: list[Path]
    output_dir: Path
    n_resamples: int
    n_permutations: int
    seed: int
    heads: tuple[str, ...]
    static_widgets: bool | None
    smoke: bool


def check_dg_params(
    *,
    suite_dir: str | Path = "",
    run_dirs: Sequence[str | Path] = (),
    output_dir: str | Path,
    n_resamples: int = N_RESAMPLES,
    n_permutations: int = N_PERMUTATIONS,
    seed: int = 0,
    heads: Sequence[str] = ("fine",),
    static_widgets: bool | None = None,
    smoke: bool = False,
) -> DGParams:
    """Validate every parameter of notebook 04 in one call and find the run directories.

    Args:
        suite_dir: suite folder whose runs are collected; "" to use ``run_dirs``.
        run_dirs: run directories, used when ``suite_dir`` is "".
        output_dir: folder for the results table, the gap and comparison tables and the inspector's figures.
        n_resamples: bootstrap resamples (gap intervals, comparison intervals).
        n_permutations: permutations of the paired tests.
        seed: seed of both.
        heads: scored heads compared between variants.
        static_widgets: the inspector's mode: True static, False widgets, None auto-detect.
        smoke: cap resamples and permutations at :data:`SMOKE_RESAMPLES`.

    Returns:
        The :class:`DGParams`.

    Raises:
        ConfigError: a bad value, or both or neither of ``suite_dir`` and ``run_dirs``.
        RunError: no run directory found.
    """
    if bool(str(suite_dir)) == bool(list(run_dirs)):
        raise ConfigError(f"give exactly one of suite_dir ({str(suite_dir)!r}) and run_dirs ({list(run_dirs)!r})")
    for name, value in (("n_resamples", n_resamples), ("n_permutations", n_permutations)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"{name} is {value!r}; give a positive integer, e.g. 10000")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ConfigError(f"seed is {seed!r}; give a non-negative integer")
    if not isinstance(smoke, bool) or static_widgets not in (None, True, False):
        raise ConfigError(f"smoke is {smoke!r} and static_widgets {static_widgets!r}; smoke must be True/False, "
                          f"static_widgets True, False or None")
    if not list(heads) or any(h not in BASE_HEAD for h in heads):
        raise ConfigError(f"heads is {list(heads)}; choose from {list(BASE_HEAD)}")
    if not str(output_dir):
        raise ConfigError("output_dir is empty; give the folder for the results table")
    runs = find_run_dirs(suite_dir if str(suite_dir) else [Path(r) for r in run_dirs])
    cap = SMOKE_RESAMPLES if smoke else None
    return DGParams(runs=runs, output_dir=Path(output_dir),
                    n_resamples=min(n_resamples, cap) if cap else n_resamples,
                    n_permutations=min(n_permutations, cap) if cap else n_permutations,
                    seed=seed, heads=tuple(heads), static_widgets=static_widgets, smoke=smoke)


def run_dg_analysis(params: DGParams) -> dict[str, Path]:
    """What notebook 04 computes, in one call (for the command line): the results table, per-run gaps, the
    fold/seed summary and the paired comparisons, written under ``params.output_dir``.

    Returns:
        Name -> path: ``results_csv``, ``results_parquet``, ``gaps``, ``summary``, ``comparisons``.
    """
    out = params.output_dir
    results = collect_results(params.runs, n_resamples=params.n_resamples, seed=params.seed)
    paths = {f"results_{k}": v for k, v in write_results(results, out).items()}
    paths["gaps"] = atomic_write_text(out / "gaps.csv", gap_table(results).to_csv(index=False))
    paths["summary"] = atomic_write_text(out / "summary.csv", summarise_over_folds(results).to_csv(index=False))
    comparisons = compare_variants(params.runs, heads=params.heads, n_resamples=params.n_resamples,
                                   n_permutations=params.n_permutations, seed=params.seed)
    paths["comparisons"] = write_comparisons(comparisons, out)
    paths |= write_headline(params.runs, out, heads=params.heads, n_resamples=params.n_resamples,
                            n_permutations=params.n_permutations, seed=params.seed)
    return paths


def write_headline(
    runs: str | Path | Sequence[str | Path],
    out_dir: str | Path,
    *,
    heads: Sequence[str] = ("fine",),
    n_resamples: int = N_RESAMPLES,
    n_permutations: int = N_PERMUTATIONS,
    seed: int = 0,
) -> dict[str, Path]:
    """Write the headline tables of :mod:`heritage_core.evaluation.headline` under ``out_dir``: ``headline.csv``,
    ``headline_comparisons.csv``, ``budgets.csv``; the grid a variant must complete is the suite's plan
    (``plan.json`` beside ``runs/``) when there is one.

    Returns:
        Name -> path.
    """
    from heritage_core.evaluation.headline import budgets, headline_comparisons, headline_results

    evaluations = load_evaluations(runs, "write_headline")
    expected = _expected_cells(evaluations)
    out_dir = Path(out_dir)
    frames = {
        "headline": headline_results(evaluations, heads=heads, n_resamples=n_resamples, seed=seed, expected=expected),
        "headline_comparisons": headline_comparisons(evaluations, heads=heads, n_resamples=n_resamples,
                                                     n_permutations=n_permutations, seed=seed, order=VARIANT_ORDER),
        "budgets": budgets(evaluations),
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    return {name: atomic_write_text(out_dir / f"{name}.csv", df.to_csv(index=False)) for name, df in frames.items()}


def _expected_cells(evaluations: Sequence[Evaluation]) -> dict[str, set[tuple[str, int]]] | None:
    """encoder -> the (fold, seed) cells of the suite's plan, when the runs belong to one suite."""
    suites = {Path(p).resolve() for ev in evaluations for p in ev.run_dir.resolve().parents
              if p.name == "runs" and (p.parent / "plan.json").is_file()}
    if len(suites) != 1:
        return None
    from heritage_core.suite.plan import load_plan

    try:
        profile = load_plan(next(iter(suites)).parent).profile
    except Exception:  # a plan of an older version: fall back to the cells present
        return None
    cells: dict[str, set[tuple[str, int]]] = {}
    for cell in profile.cells():
        cells.setdefault(cell.encoder, set()).add((cell.fold, cell.seed))
    return cells

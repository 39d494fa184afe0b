"""What notebook 05 reads: its validated parameters and the suite's finished, evaluated runs.

Inputs are the tidy results table (``results.parquet``/``.csv``), the paired comparisons
(``comparisons.csv``; computed from the runs' stored counts with :func:`heritage_core.evaluation.dg.compare_variants`
when the suite has none), and the run directories (``run.json``, ``history.csv``, ``eval/``). Nothing is
retrained or re-predicted.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from heritage_core.errors import ConfigError, RunError
from heritage_core.evaluation import N_RESAMPLES
from heritage_core.evaluation.dg import compare_variants, find_run_dirs, read_results, write_comparisons
from heritage_core.evaluation.store import BASE_HEAD
from heritage_core.report.aggregate import fold_order, ordered_variants
from heritage_core.runs import git_commit, read_json

__all__ = ["ReportParams", "check_report_params", "SuiteResults", "load_suite"]

# --------------------------------------------------------------------------- parameters and inputs
@dataclass(frozen=True)
class ReportParams:
    """Validated parameters of notebook 05 (see :func:`check_report_params`)."""

    suite_dir: Path
    suite: str
    results_path: Path
    comparisons_path: Path | None
    results_dir: Path
    output_dir: Path
    figures_dir: Path
    head: str
    partition: str
    variants: tuple[str, ...] | None
    folds: tuple[str, ...] | None
    encoder: str
    example_fold: str
    qualitative_ids: tuple[str, ...]
    n_qualitative: int
    compare: tuple[str, ...]
    n_resamples: int
    smoke: bool


def _strings(value: Any, name: str) -> tuple[str, ...]:
    if isinstance(value, str) or not all(isinstance(v, str) and v for v in value):
        raise ConfigError(f"{name} is {value!r}; give a list of non-empty strings (empty list: all)")
    return tuple(value)


def check_report_params(
    *,
    suite_dir: str | Path,
    results_dir: str | Path = "",
    output_dir: str | Path = "paper/generated",
    figures_dir: str | Path = "",
    head: str = "fine",
    partition: str = "ood_test",
    variants: Sequence[str] = (),
    folds: Sequence[str] = (),
    encoder: str = "",
    example_fold: str = "",
    qualitative_ids: Sequence[str] = (),
    n_qualitative: int = 3,
    compare: Sequence[str] = ("flat", "curriculum"),
    n_resamples: int = N_RESAMPLES,
    smoke: bool = False,
) -> ReportParams:
    """Validate every parameter of notebook 05 in one call.

    Args:
        suite_dir: the suite folder (``suites/<name>``); its name is the suite name.
        results_dir: folder with ``results.parquet``/``results.csv`` and, when made, ``comparisons.csv``;
            "" for ``<suite_dir>/results``.
        output_dir: root of the generated paper assets; files go to ``<output_dir>/<suite>/``.
        figures_dir: folder for PNG copies of the figures; "" for ``<suite_dir>/figures``.
        head: scored head of every table and figure (``fine``, or another scored head of the table).
        partition: test partition of the per-class table, heat map, confusion and qualitative grid.
        variants: variants to show, in order; empty for all present (ablation order).
        folds: folds to show; empty for every fold with an OOD test set (all folds when none has one, e.g. a
            suite of the ``random`` protocol only).
        encoder: encoder whose runs are reported; "" when the suite has exactly one.
        example_fold: fold of the training curves and qualitative grid; "" for the first fold.
        qualitative_ids: item ids of the qualitative grid; empty to pick ``n_qualitative`` images with the most
            labelled damage classes (not chosen by score).
        n_qualitative: images in the grid when ``qualitative_ids`` is empty.
        compare: variants of the confusion matrices and the qualitative grid.
        n_resamples: bootstrap resamples and permutations, used only when the suite has no ``comparisons.csv``.
        smoke: one qualitative image, at most 200 resamples, smaller PNGs (tests, first runs).

    Returns:
        The :class:`ReportParams`.

    Raises:
        ConfigError: a bad value, or an encoder that is not unique / not present.
        RunError: no suite folder or no results table in it.
    """
    suite_dir = Path(suite_dir)
    if not suite_dir.is_dir():
        raise RunError(f"suite_dir '{suite_dir}' is not a folder; run the suite first (or point at suites/<name>)")
    results_dir = Path(results_dir) if str(results_dir) else suite_dir / "results"
    results_path = next((p for p in (results_dir / "results.parquet", results_dir / "results.csv") if p.is_file()), None)
    if results_path is None:
        raise RunError(f"no results table in '{results_dir}' (results.parquet or results.csv); collect the suite's "
                       f"results first (notebook 04_dg_gap)")
    if head not in BASE_HEAD:
        raise ConfigError(f"head is {head!r}; use a scored head of {list(BASE_HEAD)}, e.g. 'fine'")
    if partition not in ("id_test", "ood_test"):
        raise ConfigError(f"partition is {partition!r}; allowed are 'id_test' and 'ood_test'")
    for name, value in (("n_qualitative", n_qualitative), ("n_resamples", n_resamples)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"{name} is {value!r}; give a positive integer")
    if not isinstance(smoke, bool):
        raise ConfigError(f"smoke is {smoke!r}; give True or False")
    if not str(output_dir):
        raise ConfigError("output_dir is empty; give the root of the generated paper assets, e.g. 'paper/generated'")
    suite = suite_dir.resolve().name
    comparisons = results_dir / "comparisons.csv"
    return ReportParams(
        suite_dir=suite_dir, suite=suite, results_path=results_path,
        comparisons_path=comparisons if comparisons.is_file() else None, results_dir=results_dir,
        output_dir=Path(output_dir) / suite, figures_dir=Path(figures_dir) if str(figures_dir) else suite_dir / "figures",
        head=head, partition=partition, variants=_strings(variants, "variants") or None,
        folds=_strings(folds, "folds") or None, encoder=str(encoder), example_fold=str(example_fold),
        qualitative_ids=_strings(qualitative_ids, "qualitative_ids"), n_qualitative=1 if smoke else n_qualitative,
        compare=_strings(compare, "compare"), n_resamples=min(n_resamples, 200) if smoke else n_resamples, smoke=smoke,
    )


@dataclass
class SuiteResults:
    """What the report reads from a suite, loaded once.

    Attributes:
        params: the validated parameters.
        results: the tidy table, restricted to the encoder (and the chosen variants and folds).
        results_all_encoders: the same for every encoder of the table (the main table and its macros compare
            encoders; everything else shows ``encoder`` only).
        comparisons: the per-run paired comparisons of that encoder.
        headline: :func:`heritage_core.evaluation.headline.headline_results` (every encoder and variant, and the floor).
        headline_comparisons: :func:`heritage_core.evaluation.headline.headline_comparisons`.
        budgets: :func:`heritage_core.evaluation.headline.budgets`.
        runs: one row per evaluated run: ``run_id, variant, fold, held_out, seed, encoder, run_dir``.
        variants: variants shown, in order.
        folds: folds shown, in order.
        comparisons_path: the comparisons file read or written.
        hashes: SHA-256 of every source file read so far (path -> hex), for provenance.
        git_commit: commit of the code making the report (:func:`heritage_core.runs.git_commit`), read once.
    """

    params: ReportParams
    results: pd.DataFrame
    comparisons: pd.DataFrame
    runs: pd.DataFrame
    variants: list[str]
    folds: list[str]
    comparisons_path: Path
    results_all_encoders: pd.DataFrame | None = None
    headline: pd.DataFrame | None = None
    headline_comparisons: pd.DataFrame | None = None
    budgets: pd.DataFrame | None = None
    headline_paths: dict[str, Path] = field(default_factory=dict)
    hashes: dict[str, str] = field(default_factory=dict)
    git_commit: str | None = None

    def run_dirs(self, *, variants: Sequence[str] | None = None, folds: Sequence[str] | None = None) -> list[Path]:
        """Run directories of the chosen variants and folds (all seeds)."""
        sel = self.runs
        sel = sel[sel["variant"].isin(list(variants or self.variants)) & sel["fold"].isin(list(folds or self.folds))]
        return [Path(p) for p in sel["run_dir"]]

    def example_runs(self, variants: Sequence[str]) -> dict[str, Path]:
        """variant -> run directory of the example fold and the smallest seed, for the given variants."""
        fold = self.params.example_fold or self.folds[0]
        sel = self.runs[(self.runs["fold"] == fold)]
        sel = sel[sel["seed"] == sel["seed"].min()] if len(sel) else sel
        by_variant = dict(zip(sel["variant"], sel["run_dir"]))
        return {v: Path(by_variant[v]) for v in variants if v in by_variant}


def _run_table(suite_dir: Path) -> pd.DataFrame:
    rows = []
    for run_dir in find_run_dirs(suite_dir):
        if not (run_dir / "eval" / "eval.json").is_file():
            continue
        info, ev = read_json(run_dir / "run.json"), read_json(run_dir / "eval" / "eval.json")
        rows.append(dict(run_id=str(info.get("params_hash") or run_dir.name), variant=str(ev.get("variant") or ""),
                         fold=str(ev.get("fold") or ""), held_out=str(ev.get("held_out") or ""),
                         seed=int(ev.get("seed") if ev.get("seed") is not None else -1),
                         encoder=str(ev.get("encoder") or ""), run_dir=str(run_dir)))
    return pd.DataFrame(rows, columns=["run_id", "variant", "fold", "held_out", "seed", "encoder", "run_dir"])


def load_suite(params: ReportParams) -> SuiteResults:
    """Read the results table, the comparisons (computing them from stored counts when missing) and the runs.

    Args:
        params: from :func:`check_report_params`.

    Returns:
        The :class:`SuiteResults`.

    Raises:
        ConfigError: the encoder is ambiguous or absent, or the chosen variants / folds are not in the table.
        RunError: the table has no rows for the chosen runs.
    """
    df = read_results(params.results_path)
    encoders = sorted(set(df["encoder"]))
    encoder = params.encoder or (encoders[0] if len(encoders) == 1 else "")
    if encoder not in encoders:
        raise ConfigError(f"encoder is {params.encoder!r} but the results table '{params.results_path}' has encoders "
                          f"{encoders}; set encoder to one of them (one report per encoder)")
    all_encoders = df
    df = df[df["encoder"] == encoder]
    present_variants, present_folds = set(df["variant"]), set(df.loc[df["partition"] != "val", "fold"])
    unknown = [v for v in params.variants or () if v not in present_variants] + \
              [f for f in params.folds or () if f not in present_folds]
    if unknown:
        raise ConfigError(f"{unknown} are not in the results table '{params.results_path}' (variants "
                          f"{sorted(present_variants)}, folds {sorted(present_folds)}); choose from those")
    variants = ordered_variants(df["variant"], params.variants)
    tested = df[df["partition"].isin(["id_test", "ood_test", "gap"])]
    held_out = tested[tested["partition"] == "ood_test"]  # DG folds; a random-protocol fold ("all") has no OOD test
    folds = [f for f, _ in fold_order(tested if params.folds or held_out.empty else held_out, params.folds)]
    df = df[df["variant"].isin(variants) & df["fold"].isin(folds)].reset_index(drop=True)
    all_encoders = all_encoders[all_encoders["variant"].isin(variants) & all_encoders["fold"].isin(folds)]
    if df.empty:
        raise RunError(f"the results table '{params.results_path}' has no rows for variants {variants} and folds {folds}")
    if params.example_fold and params.example_fold not in folds:
        raise ConfigError(f"example_fold is {params.example_fold!r}; choose one of the folds {folds}")
    runs = _run_table(params.suite_dir)
    runs = runs[runs["encoder"].eq(encoder) & runs["variant"].isin(variants) & runs["fold"].isin(folds)]
    runs = runs.reset_index(drop=True)
    if params.comparisons_path is not None:
        comparisons = pd.read_csv(params.comparisons_path, dtype={"fold": str, "held_out": str, "encoder": str})
        comparisons_path = params.comparisons_path
    else:
        comparisons = compare_variants([Path(p) for p in runs["run_dir"]], heads=(params.head,),
                                       n_resamples=params.n_resamples, n_permutations=params.n_resamples,
                                       suite=params.suite)
        comparisons_path = write_comparisons(comparisons, params.output_dir / "tables")
    comparisons = comparisons[comparisons["encoder"] == encoder].reset_index(drop=True)
    tables, paths = _headline_tables(params, [Path(p) for p in _run_table(params.suite_dir)["run_dir"]])
    headline = tables["headline"]
    headline = headline[headline["fold"].isin(["", *folds])].reset_index(drop=True)
    return SuiteResults(params=params, results=df, comparisons=comparisons, runs=runs, variants=variants, folds=folds,
                        comparisons_path=comparisons_path, results_all_encoders=all_encoders.reset_index(drop=True),
                        headline=headline, headline_comparisons=tables["headline_comparisons"],
                        budgets=tables["budgets"], headline_paths=paths, git_commit=git_commit())


def _headline_tables(params: ReportParams, run_dirs: list[Path]) -> tuple[dict[str, pd.DataFrame], dict[str, Path]]:
    """The headline tables notebook 04 wrote, or (when absent) computed here from the runs' counts."""
    names = ("headline", "headline_comparisons", "budgets")
    paths = {n: params.results_dir / f"{n}.csv" for n in names}
    if all(p.is_file() for p in paths.values()):
        return {n: _read_headline_csv(p) for n, p in paths.items()}, paths
    from heritage_core.evaluation.analysis import write_headline

    written = write_headline(run_dirs, params.output_dir / "tables", heads=(params.head,),
                             n_resamples=params.n_resamples, seed=0)
    return {n: _read_headline_csv(written[n]) for n in names}, written


def _read_headline_csv(path: Path) -> pd.DataFrame:
    """One headline table; the all-folds scope (``fold`` "") and empty labels stay "" rather than NaN."""
    labels = ("fold", "held_out", "encoder", "variant")
    frame = pd.read_csv(path, dtype={c: str for c in labels})
    present = [c for c in labels if c in frame.columns]
    frame[present] = frame[present].fillna("")
    return frame



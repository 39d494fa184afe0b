"""``numbers.tex``: every number the paper's text uses, as a LaTeX macro (letters-only names).

The text of ``main.tex`` never carries a typed result: it uses ``\\CurriculumOODmIoU`` and friends, defined
here from the same frames as the tables, with the same formatting rule.
"""
from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from heritage_core.errors import ConfigError
from heritage_core.evaluation.dg import VARIANT_ORDER
from heritage_core.evaluation.metrics import ABSENT_CLASS_RULE
from heritage_core.report.aggregate import FLOOR, MAIN_PARTITIONS, format_p, format_percent, macro_name, tex_escape

__all__ = ["ARTEFACT_IMAGES", "number_macros", "verdict", "dataset_macros", "setup_macros", "numbers_tex",
           "parse_numbers_tex"]

# --------------------------------------------------------------------------- number macros
def _value(r: pd.Series | None, key: str = "mean") -> str:
    if r is None:
        return "--"
    if not bool(r.get("complete", True)):
        return "X"
    return format_percent(r[key])


class _Macros(dict):
    """Macro name -> text; refuses a second definition of one name."""

    def put(self, name: str, text: str) -> None:
        if name in self:
            raise ConfigError(f"number macro \\{name} would be defined twice; rename the folds or variants so "
                              f"their letters differ")
        self[name] = text


_TAG = {"id_test": "ID", "ood_test": "OOD", "gap": "Gap"}
_WHERE = {"id_test": "in-domain", "ood_test": "held-out"}


def _result_macros(out: _Macros, main: pd.DataFrame, encoder: str) -> None:
    """``\\VPmIoU`` (+ ``Low``, ``High``) and ``\\VClearsFloorP`` of every variant, per encoder."""
    encoders = list(dict.fromkeys(main["encoder"])) if "encoder" in main.columns else []
    primary = encoder if encoder in encoders else (encoders[0] if encoders else encoder)
    groups = ([(main[main["encoder"] == e], "" if e == primary else macro_name(e)) for e in encoders]
              if len(encoders) > 1 else [(main, "")])
    everyone = (*VARIANT_ORDER, FLOOR)
    for sub, suffix in groups:
        for variant in everyone + tuple(v for v in sub["variant"].unique() if v not in everyone):
            for part in MAIN_PARTITIONS:
                r = sub[(sub["variant"] == variant) & (sub["partition"] == part)]
                row = r.iloc[0] if len(r) else None
                base = macro_name(variant) + _TAG[part] + "mIoU"
                out.put(base + suffix, _value(row))
                out.put(base + "Low" + suffix, _value(row, "low"))
                out.put(base + "High" + suffix, _value(row, "high"))
                if part != "gap" and variant != FLOOR:
                    clears = None if row is None else row.get("clears_floor")
                    out.put(macro_name(variant) + "ClearsFloor" + _TAG[part] + suffix,
                            "--" if clears is None or not np.isfinite(clears) else ("yes" if clears else "no"))


def verdict(row: pd.Series | None, *, partition: str, baseline: str = "flat") -> str:
    """One clause saying what a paired difference to the baseline shows, read off its 95 % interval.

    Args:
        row: an :func:`~heritage_core.report.tables.ablation` row (``mean``, ``low``, ``high``: fractions;
            ``complete``), or None when the suite lacks the variant.
        partition: ``id_test`` or ``ood_test``.
        baseline: the reference variant's name.

    Returns:
        LaTeX text completing "The variant ...", e.g. "lowers held-out mIoU against the flat baseline by 2.4
        points (95 % interval [-3.9, -0.8]): at this training budget it does not help".
    """
    where, base = _WHERE[partition], f"the {tex_escape(baseline)} baseline"
    if row is None:
        return f"cannot be compared with {base} (the suite did not train both)"
    if not bool(row["complete"]):
        return f"cannot be compared with {base} yet (its grid of runs is incomplete)"
    mean, low, high = (float(row[k]) for k in ("mean", "low", "high"))
    if not all(np.isfinite([mean, low, high])):
        return f"cannot be compared with {base} (the difference is undefined)"
    interval = f"95\\,\\% interval [{format_percent(low)}, {format_percent(high)}]"
    if low > 0:
        return f"improves {where} mIoU over {base} by {format_percent(mean)} points ({interval})"
    if high < 0:
        return (f"lowers {where} mIoU against {base} by {format_percent(-mean)} points ({interval}): at this "
                f"training budget it does not help")
    return (f"does not change {where} mIoU measurably against {base} ({format_percent(mean, signed=True)} "
            f"points, {interval}, which contains zero)")


def _ablation_macros(out: _Macros, ablation_frame: pd.DataFrame, baseline: str) -> None:
    """``\\VVsFlatPDelta`` (+ ``Low``, ``High``), ``...P`` and ``...Verdict`` of every variant."""
    for variant in VARIANT_ORDER:
        if variant == baseline:
            continue
        for part in ("id_test", "ood_test"):
            r = ablation_frame[(ablation_frame["variant"] == variant) & (ablation_frame["partition"] == part)]
            base = macro_name(variant) + "Vs" + macro_name(baseline) + _TAG[part]
            row = r.iloc[0] if len(r) else None
            complete = row is not None and bool(row["complete"])
            out.put(base + "Delta", format_percent(row["mean"], signed=True) if complete
                    else ("X" if row is not None else "--"))
            out.put(base + "DeltaLow", format_percent(row["low"]) if complete else "--")
            out.put(base + "DeltaHigh", format_percent(row["high"]) if complete else "--")
            out.put(base + "P", format_p(row["p_holm"] if np.isfinite(row["p_holm"]) else row["p_sign_flip"])
                    if complete else "--")
            out.put(base + "Verdict", verdict(row, partition=part, baseline=baseline))


def _size_macros(out: _Macros, main: pd.DataFrame, folds_frame: pd.DataFrame, n_runs: int) -> None:
    """``\\NumFolds``, ``\\NumSeeds``, ``\\NumRuns``, ``\\NumClassesCommon``, ``\\HeldOutDomains``."""
    out.put("NumFolds", str(int(folds_frame["fold"].nunique()) if len(folds_frame) else 0))
    out.put("NumSeeds", str(int(main["n_seeds"].max()) if len(main) else 0))
    out.put("NumRuns", str(int(n_runs)))
    per_fold = folds_frame if len(folds_frame) and "n_classes" in folds_frame.columns else main
    k = per_fold["n_classes"].dropna() if "n_classes" in per_fold.columns else pd.Series(dtype=float)
    out.put("NumClassesCommon", "--" if k.empty else (f"{k.min():.0f}" if k.min() == k.max()
                                                       else f"{k.min():.0f}--{k.max():.0f}"))
    held = list(dict.fromkeys(folds_frame["held_out"])) if len(folds_frame) else []
    out.put("HeldOutDomains", tex_escape(", ".join(h for h in held if h)) if held else "--")


def number_macros(
    main: pd.DataFrame,
    folds_frame: pd.DataFrame,
    ablation_frame: pd.DataFrame,
    *,
    suite: str,
    encoder: str,
    n_runs: int,
    baseline: str = "flat",
) -> dict[str, str]:
    """Every number the paper's text uses, as macro name -> LaTeX text (the formatting rule).

    Names (letters only; ``V`` a variant of :data:`~heritage_core.evaluation.dg.VARIANT_ORDER` or ``AllClean`` (the
    floor) in CamelCase, ``P`` one of ``ID``, ``OOD``, ``Gap``, ``F`` a fold in CamelCase):

    * ``\\VPmIoU``, ``\\VPmIoULow``, ``\\VPmIoUHigh``: :func:`main_results` of ``encoder`` (defined for every
      variant of the ablation; ``--`` where the suite lacks one, ``X`` where its grid is incomplete, so the
      text always compiles); ``\\VClearsFloorP`` (``yes``/``no``: the interval's lower end above the floor);
      with several encoders in ``main`` also ``\\VPmIoUE`` ... for every other encoder ``E`` in CamelCase;
    * ``\\VPmIoUF``: :func:`per_fold` (of ``encoder``);
    * ``\\VVsFlatPDelta``, ``...DeltaLow``, ``...DeltaHigh``, ``...P`` (Holm-adjusted sign-flip p) for every
      variant against the baseline, ``P`` in ``ID``, ``OOD``: :func:`ablation`; ``...Verdict``: the clause of
      :func:`verdict` ("improves ...", "lowers ...", "does not change ... measurably");
    * ``\\NumFolds``, ``\\NumSeeds``, ``\\NumRuns``, ``\\NumClassesCommon`` (sizes of the folds' common class sets),
      and text: ``\\SuiteName``, ``\\EncoderName``, ``\\HeldOutDomains``, ``\\AbsentClassRule``.

    Args:
        main: :func:`~heritage_core.report.tables.main_results` (one or several encoders).
        folds_frame: :func:`~heritage_core.report.tables.per_fold` of the primary encoder.
        ablation_frame: :func:`~heritage_core.report.tables.ablation` of the primary encoder.
        suite: suite name (``\\SuiteName``).
        encoder: the primary encoder, whose numbers get the unqualified names (``\\EncoderName``).
        n_runs: number of runs reported (``\\NumRuns``).
        baseline: the ablation's reference variant.

    Returns:
        Macro name (without backslash) -> replacement text.

    Raises:
        ConfigError: two numbers map to one macro name (fold names that differ only in punctuation).
    """
    out = _Macros()
    _result_macros(out, main, encoder)
    for _, r in folds_frame.iterrows():
        out.put(macro_name(r["variant"]) + _TAG[r["partition"]] + "mIoU" + macro_name(r["fold"]), _value(r))
    _ablation_macros(out, ablation_frame, baseline)
    _size_macros(out, main, folds_frame, n_runs)
    out.put("SuiteName", tex_escape(suite))
    out.put("EncoderName", tex_escape(encoder))
    out.put("AbsentClassRule", tex_escape(ABSENT_CLASS_RULE))
    return dict(out)


#: Images in the published ARTeFACT dataset.
ARTEFACT_IMAGES = 418


def dataset_macros(meta: Mapping[str, object] | None) -> dict[str, str]:
    """What the numbers were computed on, from the ingest cache's ``dataset.json``.

    Names: ``\\DatasetName`` (e.g. ``ARTeFACT``), ``\\NumImages``, ``\\DatasetDescription`` (a noun phrase:
    "ARTeFACT's 418 images", "160 procedurally generated images in ARTeFACT's format ..."), and
    ``\\DatasetNote``: empty for real data; for synthetic data (``"synthetic"`` set by ingest), or a cache
    that does not record its origin, a framed paragraph saying that these are not ARTeFACT results.

    Args:
        meta: the cache's ``dataset.json``, or None when no run names a cache.

    Returns:
        Macro name -> LaTeX text.
    """
    if meta is None:
        return {"DatasetName": "--", "NumImages": "--", "DatasetDescription": "--", "DatasetNote": ""}
    n = int(meta.get("n_items", 0))
    folder = tex_escape(Path(str(meta.get("source", ""))).name or "?")
    name, description, note = f"\\texttt{{{folder}}}", f"the {n} images of \\texttt{{{folder}}}", ""
    if "synthetic" not in meta:
        description = f"the {n} images of an ingest cache that does not record its origin"
        note = (f"\\textbf{{Origin of the data not recorded.}} The cache of these {n} images was made before "
                f"ingest recorded whether data is synthetic; do not read these numbers as ARTeFACT results. "
                f"Re-run \\texttt{{heritage ingest}}.")
    elif meta["synthetic"]:
        name = "synthetic ARTeFACT-format data"
        description = f"{n} procedurally generated images in ARTeFACT's format and taxonomy"
        note = (f"\\textbf{{Synthetic data: these are not ARTeFACT results.}} Every number in this document comes "
                f"from {n} procedurally generated images (\\texttt{{heritage synth}}) that mimic ARTeFACT's format, "
                f"classes and composition. They exercise the pipeline; they say nothing about damage in real "
                f"heritage artworks.")
    elif meta.get("kind") == "parquet":
        name = "ARTeFACT"
        description = (f"ARTeFACT's {n} images" if n == ARTEFACT_IMAGES
                       else f"{n} of ARTeFACT's {ARTEFACT_IMAGES} images")
    framed = (f"\\par\\medskip\\noindent\\fbox{{\\parbox{{\\dimexpr\\linewidth-2\\fboxsep-2\\fboxrule}}{{{note}}}}}"
              if note else "")
    return {"DatasetName": name, "NumImages": str(n), "DatasetDescription": description, "DatasetNote": framed}


def _sci(value: float) -> str:
    """``1e-05`` -> ``$1{\\times}10^{-5}$`` (LaTeX)."""
    mantissa, exponent = f"{float(value):.0e}".split("e")
    return f"${mantissa}{{\\times}}10^{{{int(exponent)}}}$"


def _and_join(items: Sequence[str]) -> str:
    items = list(items)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def setup_macros(run_info: Mapping[str, object] | None) -> dict[str, str]:
    """Training-setup macros read from one run's ``run.json`` (its resolved stages and parameters).

    Names: ``\\ImgSize`` (px), ``\\BatchSize``, ``\\WeightDecay``, ``\\LossWeightBinary``,
    ``\\LossWeightCoarse``, ``\\LossWeightFine``, ``\\StageNames``, ``\\StageEpochs``,
    ``\\StageLearningRates`` (joined with "and"), ``\\TotalEpochs``; ``--`` where ``run.json`` lacks a value.
    ``\\ClassWeighting`` is a sentence naming the focal class weights the run trained with, empty without them.

    Args:
        run_info: the ``run.json`` of a run of the full method (``curriculum``), or None.

    Returns:
        Macro name -> LaTeX text.
    """
    info = dict(run_info or {})
    params = dict(info.get("params") or {})
    stages = list(info.get("stages") or [])
    weights = dict(params.get("loss_weights") or {})

    def text(value: object) -> str:
        return "--" if value is None else tex_escape(f"{value:g}" if isinstance(value, float) else value)

    return {
        "ImgSize": text(info.get("img_size", params.get("img_size"))),
        "BatchSize": text(params.get("batch_size")),
        "WeightDecay": text(params.get("weight_decay")),
        "LossWeightBinary": text(weights.get("binary")),
        "LossWeightCoarse": text(weights.get("coarse")),
        "LossWeightFine": text(weights.get("fine")),
        "StageNames": _and_join([tex_escape(s["name"]) for s in stages]) if stages else "--",
        "StageEpochs": _and_join([str(int(s["epochs"])) for s in stages]) if stages else "--",
        "StageLearningRates": _and_join([_sci(s["lr"]) for s in stages]) if stages else "--",
        "TotalEpochs": str(sum(int(s["epochs"]) for s in stages)) if stages else "--",
        "ClassWeighting": _class_weighting(info),
    }


#: How each class-weight method (``train.losses.CLASS_WEIGHT_METHODS``) reads in the paper.
_WEIGHTING_TEXT = {
    "inverse_sqrt": "the inverse square root of its pixel frequency",
    "median_frequency": "the median class frequency divided by its own pixel frequency",
}


def _class_weighting(info: Mapping[str, object]) -> str:
    """The paper's sentence on the focal class weights of a run (``run.json``), or "" when it used none."""
    records = dict(info.get("class_weights") or {})  # written by the trainer only when it weights classes
    if not records:
        return ""
    methods = sorted({str(r.get("method")) for r in records.values()})
    how = " and ".join(_WEIGHTING_TEXT.get(m, tex_escape(m)) for m in methods)
    return (f"The focal term weights each class by {how} in the training partition, normalised to mean 1 "
            f"over the classes it holds.")


def numbers_tex(macros: Mapping[str, str], *, header: str = "") -> str:
    """The ``numbers.tex`` text: one ``\\newcommand`` per macro, sorted by name.

    Raises:
        ConfigError: a macro name that is not letters only.
    """
    bad = [n for n in macros if not re.fullmatch(r"[A-Za-z]+", n)]
    if bad:
        raise ConfigError(f"macro names {bad} must be letters only (LaTeX control words)")
    lines = [f"% {line}" for line in header.splitlines()] if header else []
    lines += [f"\\newcommand{{\\{name}}}{{{macros[name]}}}" for name in sorted(macros)]
    return "\n".join(lines) + "\n"


_MACRO = re.compile(r"^\\newcommand\{\\([A-Za-z]+)\}\{(.*)\}\s*$")


def parse_numbers_tex(text: str) -> dict[str, str]:
    """Read ``numbers.tex`` back: macro name -> its text (``$-$`` turned into ``-``)."""
    out = {}
    for line in text.splitlines():
        m = _MACRO.match(line)
        if m:
            out[m.group(1)] = m.group(2).replace("$-$", "-")
    return out



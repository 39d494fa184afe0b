"""``numbers.tex``: every number the paper's text uses, as a LaTeX macro (letters-only names).

The text of ``main.tex`` never carries a typed result: it uses ``\\CurriculumOODmIoU`` and friends, defined
here from the same frames as the tables, with the same formatting rule.
"""
from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import pandas as pd

from heritage_core.dg import VARIANT_ORDER
from heritage_core.errors import ConfigError
from heritage_core.metrics import ABSENT_CLASS_RULE
from heritage_core.paper.aggregate import MAIN_PARTITIONS, NAN, format_percent, macro_name, tex_escape

__all__ = ["number_macros", "setup_macros", "numbers_tex", "parse_numbers_tex"]

# --------------------------------------------------------------------------- number macros
def number_macros(
    main: pd.DataFrame,
    folds_frame: pd.DataFrame,
    ablation_frame: pd.DataFrame,
    *,
    suite: str,
    encoder: str,
    n_runs: int,
) -> dict[str, str]:
    """Every number the paper's text uses, as macro name -> LaTeX text (the formatting rule).

    Names (letters only; ``V`` a variant of :data:`~heritage_core.dg.VARIANT_ORDER` in CamelCase, ``P`` one of
    ``ID``, ``OOD``, ``Gap``, ``F`` a fold in CamelCase):

    * ``\\VPmIoU``, ``\\VPmIoULow``, ``\\VPmIoUHigh``: :func:`main_results` of ``encoder`` (defined for all
      four variants; ``--`` where the suite lacks one, so the text always compiles); with several encoders in
      ``main`` also ``\\VPmIoUE``, ``\\VPmIoULowE``, ``\\VPmIoUHighE`` for every other encoder ``E`` in
      CamelCase (``mit_b3`` -> ``MitBThree``);
    * ``\\VPmIoUF``: :func:`per_fold` (of ``encoder``);
    * ``\\BVsAPDelta``, ``...DeltaLow``, ``...DeltaHigh``, ``...Significant`` (``k/n``) for each pair of
      variants, ``P`` in ``ID``, ``OOD``: :func:`ablation`;
    * ``\\NumFolds``, ``\\NumSeeds``, ``\\NumRuns``, and text: ``\\SuiteName``, ``\\EncoderName``,
      ``\\HeldOutDomains``, ``\\AbsentClassRule``.

    Args:
        main: :func:`~heritage_core.paper.tables.main_results` (one or several encoders).
        folds_frame: :func:`~heritage_core.paper.tables.per_fold` of the primary encoder.
        ablation_frame: :func:`~heritage_core.paper.tables.ablation` of the primary encoder.
        suite: suite name (``\\SuiteName``).
        encoder: the primary encoder, whose numbers get the unqualified names (``\\EncoderName``).
        n_runs: number of runs reported (``\\NumRuns``).

    Returns:
        Macro name (without backslash) -> replacement text.

    Raises:
        ConfigError: two numbers map to one macro name (fold names that differ only in punctuation).
    """
    macros: dict[str, str] = {}

    def put(name: str, text: str) -> None:
        if name in macros:
            raise ConfigError(f"number macro \\{name} would be defined twice; rename the folds or variants so "
                              f"their letters differ")
        macros[name] = text

    tag = {"id_test": "ID", "ood_test": "OOD", "gap": "Gap"}
    encoders = list(dict.fromkeys(main["encoder"])) if "encoder" in main.columns else []
    primary = encoder if encoder in encoders else (encoders[0] if encoders else encoder)
    groups = ([(main[main["encoder"] == e], "" if e == primary else macro_name(e)) for e in encoders]
              if len(encoders) > 1 else [(main, "")])
    for sub, suffix in groups:
        for variant in VARIANT_ORDER + tuple(v for v in sub["variant"].unique() if v not in VARIANT_ORDER):
            for part in MAIN_PARTITIONS:
                r = sub[(sub["variant"] == variant) & (sub["partition"] == part)]
                mean, low, high = (r.iloc[0][["mean", "low", "high"]] if len(r) else (NAN, NAN, NAN))
                base = macro_name(variant) + tag[part] + "mIoU"
                put(base + suffix, format_percent(mean))
                put(base + "Low" + suffix, format_percent(low))
                put(base + "High" + suffix, format_percent(high))
    for _, r in folds_frame.iterrows():
        put(macro_name(r["variant"]) + tag[r["partition"]] + "mIoU" + macro_name(r["fold"]), format_percent(r["mean"]))
    for a, b in ((a, b) for k, a in enumerate(VARIANT_ORDER) for b in VARIANT_ORDER[k + 1:]):
        for part in ("id_test", "ood_test"):
            r = ablation_frame[(ablation_frame["variant_a"] == a) & (ablation_frame["variant_b"] == b)
                               & (ablation_frame["partition"] == part)]
            base = macro_name(b) + "Vs" + macro_name(a) + tag[part]
            if len(r):
                r = r.iloc[0]
                put(base + "Delta", format_percent(r["mean"], signed=True))
                put(base + "DeltaLow", format_percent(r["low"]))
                put(base + "DeltaHigh", format_percent(r["high"]))
                put(base + "Significant", f"{int(r['n_significant'])}/{int(r['n'])}")
            else:
                for suffix in ("Delta", "DeltaLow", "DeltaHigh", "Significant"):
                    put(base + suffix, "--")
    put("NumFolds", str(int(folds_frame["fold"].nunique()) if len(folds_frame) else 0))
    put("NumSeeds", str(int(main["n_seeds"].max()) if len(main) else 0))
    put("NumRuns", str(int(n_runs)))
    put("SuiteName", tex_escape(suite))
    put("EncoderName", tex_escape(encoder))
    held = list(dict.fromkeys(folds_frame["held_out"])) if len(folds_frame) else []
    put("HeldOutDomains", tex_escape(", ".join(held)) if held else "--")
    put("AbsentClassRule", tex_escape(ABSENT_CLASS_RULE))
    return macros


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
    }


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



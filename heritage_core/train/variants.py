"""The ablation's variants and their stages as data (``configs/variants.yaml``), and the schedule they share.

A variant (``flat``, ``hierarchical``, ``curriculum_only``, ``curriculum``) names an architecture and a list
of :class:`Stage` records. :func:`resolve_stages` applies the epoch override of a config, so a smoke run or a
short profile keeps the proportions of the stages:

* ``epochs_scale`` (float > 0): the variant's total epochs become ``max(1, round(total * epochs_scale))`` and
  are shared out over its stages in proportion to their epochs (largest remainders first, at least one per
  stage), so every variant of a file keeps the same total at every scale (equal budget): 0.1 turns the
  curriculum's 20/20/60 into 2/2/6 and the flat baseline's 100 into 10. A scale that leaves fewer epochs
  than a variant has stages is an error.
* ``stage_epochs`` (list of ints, one per stage): explicit epochs, e.g. ``[1, 1, 1]`` for a smoke run.

Only one of the two may be given. Warm-up is a fraction of each stage's steps, so it scales with them.
``lr_scale`` multiplies every stage's peak learning rate: the variants file holds the plan's rates for
ImageNet-pretrained encoders (1e-5 / 5e-5 / 1e-4), and a profile that trains from random initialisation
raises them (e.g. ``lr_scale: 30``); ``equal_stage_lr`` lets every stage of a variant peak at its largest rate
(the plan's low early-stage rates, 1e-5 and 5e-5, protect pretrained features that a random encoder lacks).

Every variant of one file must have the same total epochs (:func:`load_variants` checks it): the ablation
compares variants at equal budget (same decoder, epochs, steps per epoch and schedule family).
"""
from __future__ import annotations

import dataclasses
import fnmatch
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from heritage_core.errors import ConfigError
from heritage_core.runs import read_yaml
from heritage_core.taxonomy import HEADS

__all__ = [
    "VARIANTS_PATH",
    "FACTORS",
    "Stage",
    "Variant",
    "load_variants",
    "resolve_stages",
    "trainable_mask",
    "budget",
    "steps_per_epoch",
    "warmup_cosine",
]

#: The variants shipped with the package.
VARIANTS_PATH = Path(__file__).resolve().parents[1] / "configs" / "variants.yaml"
_ARCHS = ("hierarchical", "flat")
#: The ablation's design factors a variant can declare (``factors`` in the variants file).
FACTORS = ("loss", "schedule", "head_order")
_STAGE_KEYS = ("name", "epochs", "lr", "warmup_fraction", "loss_heads", "trainable")


@dataclass(frozen=True)
class Stage:
    """One stage of a training schedule.

    Attributes:
        name: short name (``binary``, ``coarse``, ``fine``, ``all``).
        epochs: number of epochs.
        lr: peak learning rate of AdamW.
        warmup_fraction: share of the stage's optimiser steps in linear warm-up, in [0, 1).
        loss_heads: heads whose loss enters the total, in hierarchy order.
        trainable: fnmatch patterns over parameter names; parameters matching none are frozen.
    """

    name: str
    epochs: int
    lr: float
    warmup_fraction: float
    loss_heads: tuple[str, ...]
    trainable: tuple[str, ...]

    @property
    def selection_head(self) -> str:
        """The finest head in the loss: model selection uses its val mIoU."""
        return max(self.loss_heads, key=HEADS.index)

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form (lists instead of tuples), as stored in ``run.json``."""
        d = dataclasses.asdict(self)
        d["loss_heads"], d["trainable"] = list(self.loss_heads), list(self.trainable)
        return d


@dataclass(frozen=True)
class Variant:
    """A named training recipe: architecture and stages.

    Attributes:
        name: variant name (key in ``variants.yaml``).
        arch: ``hierarchical`` or ``flat`` (argument of ``create_model``).
        description: one line for tables and logs.
        stages: the stages, in training order.
        factors: the variant's cell in the ablation design: ``loss``, ``schedule``, ``head_order``.
        label: display name in tables and legends.
        colour: ``#RRGGBB`` colour of its lines and points in figures.
        marker: matplotlib marker of its points.
    """

    name: str
    arch: str
    description: str
    stages: tuple[Stage, ...]
    factors: dict[str, str] = field(default_factory=dict)
    label: str = ""
    colour: str = "#555555"
    marker: str = "o"


def _parse_stage(raw: Any, where: str) -> Stage:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: a stage must be a mapping with keys {list(_STAGE_KEYS)}, got {raw!r}")
    keys = set(raw)
    if keys != set(_STAGE_KEYS):
        raise ConfigError(
            f"{where}: stage keys {sorted(keys)} differ from the required {list(_STAGE_KEYS)} "
            f"(missing {sorted(set(_STAGE_KEYS) - keys)}, unknown {sorted(keys - set(_STAGE_KEYS))})"
        )
    name, epochs, lr, warmup = raw["name"], raw["epochs"], raw["lr"], raw["warmup_fraction"]
    if not isinstance(name, str) or not name:
        raise ConfigError(f"{where}: stage name must be a non-empty string, got {name!r}")
    where = f"{where} (stage '{name}')"
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ConfigError(f"{where}: epochs must be an integer >= 1, got {epochs!r}")
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not 0 < lr < 1:
        raise ConfigError(f"{where}: lr must be a number in (0, 1), got {lr!r}")
    if isinstance(warmup, bool) or not isinstance(warmup, (int, float)) or not 0 <= warmup < 1:
        raise ConfigError(f"{where}: warmup_fraction must be a number in [0, 1), got {warmup!r}")
    heads, patterns = raw["loss_heads"], raw["trainable"]
    if not isinstance(heads, list) or not heads or any(h not in HEADS for h in heads) or len(set(heads)) != len(heads):
        raise ConfigError(
            f"{where}: loss_heads must be a non-empty list of distinct heads from {list(HEADS)}, got {heads!r}"
        )
    if not isinstance(patterns, list) or not patterns or any(not isinstance(p, str) or not p for p in patterns):
        raise ConfigError(f"{where}: trainable must be a non-empty list of fnmatch patterns, got {patterns!r}")
    return Stage(
        name=name, epochs=int(epochs), lr=float(lr), warmup_fraction=float(warmup),
        loss_heads=tuple(sorted(heads, key=HEADS.index)), trainable=tuple(patterns),
    )


def load_variants(path: str | Path | None = None) -> dict[str, Variant]:
    """Read and validate a variants file (default: :data:`VARIANTS_PATH`).

    Args:
        path: a YAML file with a top-level ``variants`` mapping (see ``configs/variants.yaml``).

    Returns:
        Variant name -> :class:`Variant`, in file order.

    Raises:
        ConfigError: the file is missing or not YAML, or a variant or stage has unknown, missing or bad keys.
    """
    p = Path(path) if path is not None else VARIANTS_PATH
    raw = read_yaml(p, "variants file", "; pass an existing YAML file or null for the default")
    if not isinstance(raw, dict) or set(raw) != {"variants"} or not isinstance(raw["variants"], dict):
        raise ConfigError(f"variants file '{p}' must hold exactly one key 'variants' mapping name -> variant")
    out: dict[str, Variant] = {}
    for name, spec in raw["variants"].items():
        where = f"variants file '{p}', variant '{name}'"
        allowed = {"arch", "description", "stages", "factors", "label", "colour", "marker"}
        if not isinstance(spec, dict) or set(spec) - allowed or "arch" not in spec or "stages" not in spec:
            raise ConfigError(
                f"{where}: must be a mapping with keys arch, stages and optional description, factors, label, colour "
                f"and marker, got {spec!r}"
            )
        factors = spec.get("factors", {})
        if not isinstance(factors, dict) or set(factors) - set(FACTORS):
            raise ConfigError(f"{where}: factors must map some of {list(FACTORS)} to text, got {factors!r}")
        if spec["arch"] not in _ARCHS:
            raise ConfigError(f"{where}: arch '{spec['arch']}' is not one of {list(_ARCHS)}")
        if not isinstance(spec["stages"], list) or not spec["stages"]:
            raise ConfigError(f"{where}: stages must be a non-empty list")
        stages = tuple(_parse_stage(s, f"{where}, stage {i + 1}") for i, s in enumerate(spec["stages"]))
        if spec["arch"] == "flat" and any(s.loss_heads != ("fine",) for s in stages):
            raise ConfigError(
                f"{where}: the flat architecture has the fine head only; every stage needs loss_heads [fine]"
            )
        colour = str(spec.get("colour", "#555555"))
        if not re.fullmatch(r"#[0-9A-Fa-f]{6}", colour):
            raise ConfigError(f"{where}: colour must be '#RRGGBB', got {colour!r}")
        out[str(name)] = Variant(str(name), spec["arch"], str(spec.get("description", "")), stages,
                                 {str(k): str(v) for k, v in factors.items()}, str(spec.get("label", name)), colour,
                                 str(spec.get("marker", "o")))
    totals = {name: sum(s.epochs for s in v.stages) for name, v in out.items()}
    if len(set(totals.values())) > 1:
        raise ConfigError(f"variants file '{p}': the variants have different total epochs {totals}; the ablation "
                          f"compares them at equal budget, so give every variant the same total")
    return out


def resolve_stages(
    variant: Variant, epochs_scale: float = 1.0, stage_epochs: list[int] | None = None, lr_scale: float = 1.0,
    equal_stage_lr: bool = False,
) -> tuple[Stage, ...]:
    """The stages of ``variant`` with the epoch override and the learning-rate scale applied (module docstring).

    Args:
        variant: the variant.
        epochs_scale: factor on the variant's total epochs (> 0), shared out over its stages.
        stage_epochs: explicit epochs per stage (same length as the stages); excludes ``epochs_scale != 1``.
        lr_scale: factor on every stage's peak learning rate (> 0).
        equal_stage_lr: give every stage the peak rate of the variant's largest one (before ``lr_scale``).

    Returns:
        The stages with their final ``epochs`` and ``lr``.

    Raises:
        ConfigError: both overrides given, a wrong number of ``stage_epochs``, a value below 1, or an
            ``epochs_scale`` that leaves fewer epochs than the variant has stages.
    """
    if stage_epochs is not None:
        if epochs_scale != 1.0:
            raise ConfigError(
                f"give either epochs_scale ({epochs_scale}) or stage_epochs ({stage_epochs}), not both; "
                f"set epochs_scale to 1.0 or stage_epochs to null"
            )
        if len(stage_epochs) != len(variant.stages):
            raise ConfigError(
                f"stage_epochs {stage_epochs} has {len(stage_epochs)} entries but variant '{variant.name}' has "
                f"{len(variant.stages)} stages ({', '.join(s.name for s in variant.stages)}); give one per stage"
            )
        epochs = [int(e) for e in stage_epochs]
    else:
        epochs = _share_epochs([s.epochs for s in variant.stages], epochs_scale, variant.name)
    top = max(s.lr for s in variant.stages)
    return tuple(dataclasses.replace(s, epochs=e, lr=(top if equal_stage_lr else s.lr) * lr_scale)
                 for s, e in zip(variant.stages, epochs))


def warmup_cosine(step: int, total_steps: int, warmup_steps: int) -> float:
    """Learning-rate factor at optimiser step ``step`` (0-based) of a stage.

    Linear warm-up ``(step + 1) / warmup_steps`` for the first ``warmup_steps`` steps, then a cosine from 1
    down towards 0: ``0.5 * (1 + cos(pi * (step - warmup_steps) / (total_steps - warmup_steps)))``; 0 from
    ``total_steps`` on. E.g. total 10, warm-up 2: 0.5, 1.0, 1.0, 0.962, 0.854, …, 0.038.
    """
    if step >= total_steps:
        return 0.0
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    return 0.5 * (1.0 + math.cos(math.pi * (step - warmup_steps) / (total_steps - warmup_steps)))


def _share_epochs(epochs: list[int], scale: float, name: str) -> list[int]:
    """``round(sum(epochs) * scale)`` epochs shared out in proportion to ``epochs`` (largest remainders first,
    ties to the earlier stage), at least one per stage."""
    total = max(1, round(sum(epochs) * scale))
    if total < len(epochs):
        smallest = len(epochs) / sum(epochs)
        raise ConfigError(
            f"epochs_scale {scale:g} leaves {total} epoch(s) for the {len(epochs)} stages of variant '{name}'; "
            f"every stage needs one, so use epochs_scale >= {smallest:g} (or stage_epochs)"
        )
    exact = [e * total / sum(epochs) for e in epochs]
    out = [max(1, int(x)) for x in exact]
    order = sorted(range(len(epochs)), key=lambda i: (-(exact[i] - int(exact[i])), i))
    k = 0
    while sum(out) < total:
        out[order[k % len(order)]] += 1
        k += 1
    while sum(out) > total:  # the floor of one epoch pushed the sum over: take from the largest stage
        out[max(range(len(out)), key=lambda i: (out[i], -i))] -= 1
    return out


def steps_per_epoch(n_train: int, batch_size: int, batches_per_epoch: int | None = None,
                    max_batches_per_epoch: int | None = None) -> int:
    """Optimiser steps per epoch of a single-process run, as the trainer takes them: ``batches_per_epoch`` when
    given, else one pass over the ``n_train`` images (``n_train // batch_size``, the last incomplete batch
    dropped, unless the partition holds a single batch), then capped by ``max_batches_per_epoch``."""
    if batches_per_epoch is not None:
        steps = batches_per_epoch
    else:
        steps = n_train // batch_size if n_train > batch_size else 1
    return steps if max_batches_per_epoch is None else min(steps, max_batches_per_epoch)


def budget(stages: tuple[Stage, ...] | list[Stage], steps_per_epoch: int) -> dict[str, float]:
    """The training budget of a schedule: what the ablation compares variants at.

    Args:
        stages: resolved stages (:func:`resolve_stages`).
        steps_per_epoch: optimiser steps per epoch (the same for every variant of a run grid).

    Returns:
        ``epochs``, ``steps`` (optimiser steps), ``fine_steps`` (steps whose loss includes the fine head) and
        ``summed_lr`` (the sum of the learning rate over all steps, warm-up and cosine included: the total
        "distance" budget of the schedule).
    """
    out = {"epochs": 0.0, "steps": 0.0, "fine_steps": 0.0, "summed_lr": 0.0}
    for stage in stages:
        total = stage.epochs * steps_per_epoch
        warmup = round(stage.warmup_fraction * total)
        out["epochs"] += stage.epochs
        out["steps"] += total
        out["fine_steps"] += total if "fine" in stage.loss_heads else 0
        out["summed_lr"] += stage.lr * sum(warmup_cosine(k, total, warmup) for k in range(total))
    return out


def trainable_mask(param_names: list[str], stage: Stage) -> dict[str, bool]:
    """Which parameters train in ``stage``: those whose name matches one of its ``trainable`` patterns.

    Args:
        param_names: names from ``model.named_parameters()``.
        stage: the stage.

    Returns:
        Parameter name -> trainable.

    Raises:
        ConfigError: a pattern matches no parameter (a typo would otherwise freeze a module silently).
    """
    for pattern in stage.trainable:
        if not any(fnmatch.fnmatchcase(n, pattern) for n in param_names):
            tops = sorted({n.split(".")[0] + ".*" for n in param_names}
                          | {".".join(n.split(".")[:2]) + ".*" for n in param_names if n.startswith("heads.")})
            raise ConfigError(
                f"stage '{stage.name}': trainable pattern '{pattern}' matches no parameter of the model; "
                f"parameter names start with {tops}"
            )
    return {n: any(fnmatch.fnmatchcase(n, p) for p in stage.trainable) for n in param_names}

"""Training configuration: :class:`TrainConfig`, and the variants and their stages as data (``variants.yaml``).

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
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from heritage_core.data.augment import resolve_augment
from heritage_core.errors import ConfigError
from heritage_core.runs import read_yaml
from heritage_core.taxonomy import HEADS

__all__ = [
    "VARIANTS_PATH",
    "FACTORS",
    "EXECUTION_FIELDS",
    "Stage",
    "Variant",
    "TrainConfig",
    "RANGE_RULES",
    "out_of_range",
    "load_variants",
    "resolve_stages",
    "trainable_mask",
    "SMOKE_BATCHES",
    "budget",
    "steps_per_epoch",
    "warmup_cosine",
    "make_config",
]

#: The variants shipped with the package.
VARIANTS_PATH = Path(__file__).resolve().parents[1] / "configs" / "variants.yaml"
#: TrainConfig fields that choose how a run executes, not what it computes: left out of the params hash, so a
#: run can be resumed on another device, with other workers or without progress bars.
EXECUTION_FIELDS = ("run_dir", "device", "num_workers", "amp", "channels_last", "compile", "progress", "weights_dir")
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
                f"and marker, "
                f"got {spec!r}"
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


def _check_type(name: str, value: Any, kinds: tuple[type, ...], optional: bool = False) -> None:
    if value is None and optional:
        return
    if isinstance(value, bool) and bool not in kinds:
        kinds_ok = False
    else:
        kinds_ok = isinstance(value, kinds)
    if not kinds_ok:
        allowed = " or ".join(k.__name__ for k in kinds) + (" or null" if optional else "")
        raise ConfigError(f"TrainConfig.{name} must be {allowed}, got {value!r} ({type(value).__name__})")


#: Allowed values of the numeric and device fields of :class:`TrainConfig`: field -> (test, what it must be).
#: The suite's ``train`` section checks its fields against the same rules (:func:`out_of_range`).
RANGE_RULES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "img_size": (lambda v: v >= 32 and v % 32 == 0, "a multiple of 32, >= 32 (px)"),
    "batch_size": (lambda v: v >= 1, ">= 1"),
    "val_interval": (lambda v: v >= 1, "an integer >= 1 (epochs)"),
    "seed": (lambda v: v >= 0, ">= 0"),
    "epochs_scale": (lambda v: v > 0, "> 0"),
    "lr_scale": (lambda v: v > 0, "> 0"),
    "overlap": (lambda v: 0 <= v < 1, "a fraction in [0, 1)"),
    "tile": (lambda v: v is None or (v >= 32 and v % 32 == 0), "null or a multiple of 32, >= 32 (px)"),
    "weight_decay": (lambda v: v >= 0, ">= 0"),
    "decoder_channels": (lambda v: v >= 1, ">= 1"),
    "num_workers": (lambda v: v >= 0, ">= 0"),
    "grad_clip_norm": (lambda v: v is None or v > 0, "> 0 or null"),
    "max_batches_per_epoch": (lambda v: v is None or v >= 1, ">= 1 or null"),
    "batches_per_epoch": (lambda v: v is None or v >= 1, ">= 1 or null"),
    "device": (lambda v: v in ("auto", "cpu") or str(v).startswith("cuda"), "auto, cpu, cuda or cuda:N"),
}


def out_of_range(values: Mapping[str, Any]) -> tuple[str, str] | None:
    """The first field of ``values`` (of the right types) that breaks its :data:`RANGE_RULES`, with what it
    must be; None when all keep them. Fields without a rule are not looked at."""
    for name, (ok, allowed) in RANGE_RULES.items():
        if name in values and not ok(values[name]):
            return name, allowed
    return None


@dataclass
class TrainConfig:
    """Everything a training run needs; validated on construction.

    Attributes:
        cache_dir: ingest cache folder (``heritage ingest``).
        manifest_path: split manifest (JSON written by the splits module); only ``train`` and ``val`` are read.
        run_dir: run directory to create or resume (see ``heritage_core.train``).
        variant: key of the variants file: ``flat``, ``hierarchical``, ``curriculum_only`` or ``curriculum``.
        encoder: timm encoder name, e.g. ``convnext_tiny``.
        pretrained: encoder weights: a local file, a ``timm:<model>.<tag>`` / ``smp:<encoder>.<weights>`` tag
            (:mod:`heritage_core.models.weights`), or None for random initialisation. A tag is resolved before
            training starts (a missing file fails the run then, naming it); run.json records the file and its
            sha256.
        weights_dir: folder written by ``heritage weights fetch``: tags are looked up there only (compute nodes
            without internet); None resolves tags through the Hugging Face cache.
        img_size: side of the square training crops in px, cut from the cached image at its own scale; also the
            side of the sliding-window tiles of validation and test unless ``tile`` is given.
        batch_size: images per optimiser step (per process under DDP).
        seed: seed of python, numpy, torch, the loader and the model initialisation.
        epochs_scale: factor on the variant's total epochs, shared out over its stages (:func:`resolve_stages`).
        stage_epochs: explicit epochs per stage, or None.
        max_batches_per_epoch: cap on training batches per epoch (smoke runs), or None for all.
        batches_per_epoch: optimiser steps per epoch whatever the size of the train partition (crops drawn from
            successive shuffled passes over it, each item at most once per pass), so that every fold of a grid
            trains for the same number of steps; None for one pass (``n_train // batch_size``). Single process
            only.
        lr_scale: factor on every stage's peak learning rate (1 for the plan's pretrained setting; random
            initialisation wants larger rates, e.g. 30).
        equal_stage_lr: every stage of the variant peaks at the variant's largest stage rate (times
            ``lr_scale``) instead of its own (see the module docstring).
        tile: sliding-window tile side of validation (model selection) and of the final evaluation, px; None
            for ``img_size`` (the training scale is the cache's scale either way; see the README's scale rule).
        overlap: fraction of a tile shared with its neighbour in validation and evaluation, in [0, 1).
        val_interval: validate (and so select among) every ``val_interval``-th epoch of a stage and always its
            last epoch; 1 validates every epoch.
        weight_decay: AdamW decoupled weight decay, on weights with >= 2 dimensions (not on norms and biases).
        loss_weights: weight of each head's loss in the total.
        class_weights: whether to weight classes by ``losses.compute_class_weights`` on the train partition.
        decoder_channels: channels of the UPerNet decoder.
        grad_clip_norm: clip the gradients' global L2 norm to this, or None.
        augment: True for the loader's default augmentation (:data:`heritage_core.data.augment.DEFAULT_AUGMENT`),
            False for none, or a mapping of settings over the defaults (e.g. ``{"damage_crop_p": 0.5}``).
        variants_file: YAML file of variants, or None for the packaged ``configs/variants.yaml``.
        device: ``auto`` (CUDA when available), ``cpu``, ``cuda`` or ``cuda:N``.
        num_workers: data-loader worker processes (0: load in the main process).
        amp: bf16 autocast on CUDA for training, validation and the final evaluation alike (always off on the
            CPU, which runs in float32).
        channels_last: channels-last memory format on CUDA (always off on CPU).
        compile: wrap the model in ``torch.compile`` for training.
        progress: show tqdm progress bars.
    """

    cache_dir: str
    manifest_path: str
    run_dir: str
    variant: str = "curriculum"
    encoder: str = "convnext_tiny"
    pretrained: str | None = None
    weights_dir: str | None = None
    img_size: int = 512
    batch_size: int = 8
    seed: int = 0
    epochs_scale: float = 1.0
    stage_epochs: list[int] | None = None
    max_batches_per_epoch: int | None = None
    batches_per_epoch: int | None = None
    lr_scale: float = 1.0
    equal_stage_lr: bool = False
    tile: int | None = None
    overlap: float = 0.25
    val_interval: int = 1
    weight_decay: float = 0.05
    loss_weights: dict[str, float] = field(default_factory=lambda: {"binary": 0.2, "coarse": 0.3, "fine": 1.0})
    class_weights: bool = False
    decoder_channels: int = 256
    grad_clip_norm: float | None = None
    augment: bool | dict[str, Any] = True
    variants_file: str | None = None
    device: str = "auto"
    num_workers: int = 4
    amp: bool = True
    channels_last: bool = True
    compile: bool = False
    progress: bool = True

    def __post_init__(self) -> None:
        for name in ("cache_dir", "manifest_path", "run_dir", "variant", "encoder", "device"):
            _check_type(name, getattr(self, name), (str, Path))
            setattr(self, name, str(getattr(self, name)))
        for name in ("pretrained", "variants_file", "weights_dir"):
            _check_type(name, getattr(self, name), (str, Path), optional=True)
            if getattr(self, name) is not None:
                setattr(self, name, str(getattr(self, name)))
        for name in ("img_size", "batch_size", "seed", "decoder_channels", "num_workers", "val_interval"):
            _check_type(name, getattr(self, name), (int,))
        _check_type("augment", self.augment, (bool, dict))
        if isinstance(self.augment, dict):
            try:
                self.augment = {k: self.augment[k] for k in sorted(self.augment)}
                resolve_augment(self.augment)
            except ConfigError as exc:
                raise ConfigError(f"TrainConfig.{exc}") from None
        for name in ("class_weights", "equal_stage_lr", "amp", "channels_last", "compile", "progress"):
            _check_type(name, getattr(self, name), (bool,))
        _check_type("epochs_scale", self.epochs_scale, (int, float))
        _check_type("lr_scale", self.lr_scale, (int, float))
        _check_type("overlap", self.overlap, (int, float))
        _check_type("tile", self.tile, (int,), optional=True)
        _check_type("weight_decay", self.weight_decay, (int, float))
        _check_type("grad_clip_norm", self.grad_clip_norm, (int, float), optional=True)
        _check_type("max_batches_per_epoch", self.max_batches_per_epoch, (int,), optional=True)
        _check_type("batches_per_epoch", self.batches_per_epoch, (int,), optional=True)
        _check_type("stage_epochs", self.stage_epochs, (list, tuple), optional=True)
        _check_type("loss_weights", self.loss_weights, (dict,))
        wrong = out_of_range(self.to_dict())
        if wrong is not None:
            name, allowed = wrong
            raise ConfigError(f"TrainConfig.{name} = {getattr(self, name)!r}; it must be {allowed}")
        if self.stage_epochs is not None:
            if any(isinstance(e, bool) or not isinstance(e, int) or e < 1 for e in self.stage_epochs):
                raise ConfigError(
                    f"TrainConfig.stage_epochs = {self.stage_epochs!r}; it must be a list of integers >= 1 or null"
                )
            self.stage_epochs = [int(e) for e in self.stage_epochs]
        if set(self.loss_weights) != set(HEADS) or any(
            isinstance(w, bool) or not isinstance(w, (int, float)) or w < 0 for w in self.loss_weights.values()
        ):
            raise ConfigError(
                f"TrainConfig.loss_weights = {self.loss_weights!r}; it must map each of {list(HEADS)} to a weight >= 0"
            )
        self.loss_weights = {h: float(self.loss_weights[h]) for h in HEADS}
        self.epochs_scale = float(self.epochs_scale)
        self.lr_scale = float(self.lr_scale)
        self.overlap = float(self.overlap)
        self.weight_decay = float(self.weight_decay)
        variants = load_variants(self.variants_file)
        if self.variant not in variants:
            raise ConfigError(
                f"TrainConfig.variant = '{self.variant}' is not one of {list(variants)} in "
                f"'{self.variants_file or VARIANTS_PATH}'"
            )
        resolve_stages(variants[self.variant], self.epochs_scale, self.stage_epochs, self.lr_scale,
                       self.equal_stage_lr)

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> TrainConfig:
        """Build from a mapping; unknown keys are an error naming them.

        Raises:
            ConfigError: unknown or missing keys, or a bad value.
        """
        if not isinstance(raw, dict):
            raise ConfigError(f"a training config must be a mapping, got {type(raw).__name__}")
        names = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(raw) - set(names))
        if unknown:
            raise ConfigError(f"unknown TrainConfig keys {unknown}; allowed are {names}")
        missing = [f.name for f in dataclasses.fields(cls) if f.default is dataclasses.MISSING
                   and f.default_factory is dataclasses.MISSING and f.name not in raw]
        if missing:
            raise ConfigError(f"TrainConfig lacks the required keys {missing}")
        return cls(**raw)

    @classmethod
    def from_yaml(cls, path: str | Path) -> TrainConfig:
        """Build from a YAML file holding one mapping (see :meth:`from_dict`).

        Raises:
            ConfigError: the file is missing or not YAML, or :meth:`from_dict` fails.
        """
        p = Path(path)
        raw = read_yaml(p, "training config")
        try:
            return cls.from_dict(raw)
        except ConfigError as exc:
            raise ConfigError(f"training config '{p}': {exc}") from None

    # ------------------------------------------------------------------ derived
    def to_dict(self) -> dict[str, Any]:
        """All fields as a plain dict (JSON- and YAML-safe)."""
        return dataclasses.asdict(self)

    def variant_spec(self) -> Variant:
        """The :class:`Variant` this config names."""
        return load_variants(self.variants_file)[self.variant]

    def stages(self) -> tuple[Stage, ...]:
        """The variant's stages with the epoch override and the learning-rate scale applied."""
        return resolve_stages(self.variant_spec(), self.epochs_scale, self.stage_epochs, self.lr_scale,
                              self.equal_stage_lr)

    @property
    def eval_tile(self) -> int:
        """Sliding-window tile side of validation and evaluation, px."""
        return self.img_size if self.tile is None else self.tile

    def identity(self) -> dict[str, Any]:
        """The parameters that decide a run's numbers: every field but :data:`EXECUTION_FIELDS` and the input
        paths (their content enters the hash through the dataset fingerprint and the manifest's digest), plus
        the architecture and the resolved stages (so editing the variants file changes the identity)."""
        left_out = (*EXECUTION_FIELDS, "cache_dir", "manifest_path", "variants_file")
        d = {k: v for k, v in self.to_dict().items() if k not in left_out}
        d["arch"] = self.variant_spec().arch
        d["stages"] = [s.to_dict() for s in self.stages()]
        return d


#: Batches per epoch in a smoke run (one epoch per stage).
SMOKE_BATCHES = 2


def make_config(*, smoke: bool = False, **fields: Any) -> TrainConfig:
    """A :class:`TrainConfig` from notebook or profile parameters, validated in one call.

    Args:
        smoke: replace the epochs by one per stage and cap each epoch at :data:`SMOKE_BATCHES` batches, to
            check shapes, memory and the whole pipeline in minutes before a long job (its params hash differs,
            so give a smoke run its own ``run_dir``).
        **fields: :class:`TrainConfig` fields.

    Returns:
        The validated config.

    Raises:
        ConfigError: unknown or missing fields, or a bad value (the message names the field).
    """
    config = TrainConfig.from_dict(fields)
    if not smoke:
        return config
    n = len(config.variant_spec().stages)
    cap = SMOKE_BATCHES if config.max_batches_per_epoch is None else min(SMOKE_BATCHES, config.max_batches_per_epoch)
    return dataclasses.replace(config, epochs_scale=1.0, stage_epochs=[1] * n, max_batches_per_epoch=cap)

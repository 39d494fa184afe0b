"""Training configuration: :class:`TrainConfig` (one run's parameters, validated at construction) and
:func:`make_config`; the variants it names and their stages are :mod:`heritage_core.train.variants`.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from heritage_core.data.augment import resolve_augment
from heritage_core.errors import ConfigError
from heritage_core.runs import read_yaml
from heritage_core.taxonomy import HEADS
from heritage_core.train.variants import VARIANTS_PATH, Stage, Variant, load_variants, resolve_stages

__all__ = [
    "EXECUTION_FIELDS",
    "TrainConfig",
    "RANGE_RULES",
    "out_of_range",
    "SMOKE_BATCHES",
    "make_config",
]

#: TrainConfig fields that choose how a run executes, not what it computes: left out of the params hash, so a
#: run can be resumed on another device, with other workers or without progress bars.
EXECUTION_FIELDS = ("run_dir", "device", "num_workers", "amp", "channels_last", "compile", "progress", "weights_dir")


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
        channels_last: channels-last memory format for training, validation and the final evaluation, on CPU and
            CUDA (on one CPU core a test_resnet step is 10-20 % shorter with it, a ResNet-10t step the same).
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

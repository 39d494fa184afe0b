"""Suite profiles: the YAML files in ``parameters/`` that describe a whole paper suite, as frozen dataclasses.

A profile names the dataset, the split protocol, the grid of runs (folds x variants x encoders x seeds), the
training, evaluation and analysis settings shared by every run, the device and the SLURM resources. It is read
once by :func:`load_profile`, validated completely (unknown keys, wrong types and bad values are a
:class:`~heritage_core.errors.ConfigError` naming the file and the dotted key), and never re-read: the suite
runner writes the resolved profile to ``suites/<name>/profile.yaml``.

Sections and their keys (see the dataclasses for meanings, units and defaults); a profile has a ``grid`` (the
DG experiment, notebooks 01-05), a ``film`` section (the real-pixel check, notebook 06), or both::

    name, description, device, smoke
    dataset:   source, synthetic_n, synthetic_seed, synthetic_min_mark_px, max_side_px, cache_dir
    splits:    protocol, seeds, fractions, min_items, folds
    grid:      variants, encoders, seeds
    train:     img_size, batch_size, decoder_channels, epochs_scale, stage_epochs, max_batches_per_epoch,
               batches_per_epoch, init, pretrained, lr_scale, equal_stage_lr, tile, overlap, val_interval, class_weights,
               augment, num_workers, amp
    evaluate:  partitions, consistent, score_max_side_px, n_resamples
    analysis:  n_resamples, n_permutations, heads
    report:    encoder, head, partition, compare, n_qualitative
    film:      film_dir, encoder, pretrained, crop_px, epochs, crops_per_epoch, batch_size, lr, tile_px, overlap,
               score_tile_px, n_resamples, seed
    resources: partition, time, gpus_per_task, cpus_per_task, mem, max_parallel, prepare_time, report_time

Paths (``dataset.source``, ``dataset.cache_dir``, ``train.pretrained`` values) are relative to the project
root, the folder ``heritage suite`` runs in. Split seeds pair with training seeds: with one split seed every
run trains on its manifests; with as many split seeds as training seeds, run seed ``grid.seeds[i]`` trains on
split seed ``splits.seeds[i]`` (so the spread over seeds includes the spread over splits).
"""
from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from heritage_core.data.augment import resolve_augment
from heritage_core.errors import ConfigError
from heritage_core.evaluation import N_PERMUTATIONS, N_RESAMPLES
from heritage_core.film.settings import FILM_DIR, FilmParams, make_film_params
from heritage_core.runs import read_yaml
from heritage_core.splits.protocols import EVAL_PARTITIONS
from heritage_core.suite.schema import bad_value, build_dataclass, check_at_least, plain
from heritage_core.suite.slurm import ResourcesSpec
from heritage_core.taxonomy import HEADS, default_taxonomy, fold_slug
from heritage_core.train.config import TrainConfig, out_of_range
from heritage_core.train.variants import load_variants, resolve_stages

__all__ = [
    "DatasetSpec",
    "SplitSpec",
    "GridSpec",
    "TrainSpec",
    "EvaluateSpec",
    "AnalysisSpec",
    "ReportSpec",
    "FilmSpec",
    "Profile",
    "GridCell",
    "SYNTHETIC",
    "INITS",
    "PROFILE_DIR",
    "load_profile",
    "profile_from_dict",
    "profile_to_yaml",
]

#: ``dataset.source`` value that selects the embedded synthetic dataset.
SYNTHETIC = "synthetic"
#: The profiles shipped with the project.
PROFILE_DIR = Path(__file__).resolve().parents[2] / "parameters"

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
#: Folds of each protocol: the slugs of the held-out domains (``configs/taxonomy.yaml``), one fold for random.
_PROTOCOL_FOLDS = {
    "locontent": tuple(fold_slug(c) for c in default_taxonomy().contents),
    "lomaterial": tuple(fold_slug(m) for m in default_taxonomy().materials),
    "random": ("all",),
}


@dataclass(frozen=True)
class DatasetSpec:
    """Where the images come from and how they are cached.

    Attributes:
        source: ``synthetic`` (the embedded procedurally generated ARTeFACT-schema dataset, written to
            ``suites/<name>/data``) or a dataset folder: the ARTeFACT parquet download, a folder with
            ``metadata.csv``, or a binary-mask folder.
        synthetic_n: number of synthetic items (``source: synthetic`` only).
        synthetic_seed: seed of the synthetic dataset.
        synthetic_min_mark_px: smallest width of thin synthetic marks and specks, px (1: ARTeFACT-like; more
            keeps them visible in a small rendering such as the demo's).
        max_side_px: long side of the cached images, px: the pixel scale of training, validation and test.
        cache_dir: ingest cache folder; None for ``suites/<name>/cache``.
    """

    source: str = SYNTHETIC
    synthetic_n: int = 418
    synthetic_seed: int = 0
    synthetic_min_mark_px: int = 1
    max_side_px: int = 512
    cache_dir: str | None = None

    def __post_init__(self) -> None:
        if not self.source:
            raise bad_value("dataset.source", self.source, f"'{SYNTHETIC}' or a dataset folder")
        if self.synthetic_n < (1 if self.source == SYNTHETIC else 0):
            raise bad_value("dataset.synthetic_n", self.synthetic_n, "an integer >= 1 for synthetic data")
        check_at_least("dataset", self, 0, "synthetic_seed")
        check_at_least("dataset", self, 32, "max_side_px", unit="px")
        check_at_least("dataset", self, 1, "synthetic_min_mark_px", unit="px")


@dataclass(frozen=True)
class SplitSpec:
    """The domain-generalisation split (notebook 01).

    Attributes:
        protocol: ``locontent``, ``lomaterial`` or ``random``.
        seeds: split seeds; one, or one per training seed (module docstring).
        fractions: train, val, id_test shares of the in-domain items (sum 1).
        min_items: partitions with fewer items are flagged in the split report.
        folds: folds (held-out domain slugs) to train on; None for every fold of the protocol.
    """

    protocol: str = "locontent"
    seeds: tuple[int, ...] = (0,)
    fractions: tuple[float, ...] = (0.7, 0.15, 0.15)
    min_items: int = 30
    folds: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.protocol not in _PROTOCOL_FOLDS:
            raise bad_value("splits.protocol", self.protocol, f"one of {list(_PROTOCOL_FOLDS)}")
        if not self.seeds or len(set(self.seeds)) != len(self.seeds) or min(self.seeds) < 0:
            raise bad_value("splits.seeds", list(self.seeds), "a non-empty list of distinct integers >= 0")
        if len(self.fractions) != 3 or min(self.fractions) < 0 or abs(sum(self.fractions) - 1) > 1e-6:
            raise bad_value("splits.fractions", list(self.fractions), "three shares in [0, 1] (train, val, id_test) summing to 1")
        check_at_least("splits", self, 0, "min_items")
        if self.folds is not None:
            known = _PROTOCOL_FOLDS[self.protocol]
            unknown = [f for f in self.folds if f not in known]
            if not self.folds or unknown or len(set(self.folds)) != len(self.folds):
                raise bad_value("splits.folds", list(self.folds),
                           f"null or distinct folds of protocol '{self.protocol}' from {list(known)}")

    def fold_names(self) -> tuple[str, ...]:
        """The folds the grid trains on, in the protocol's order."""
        known = _PROTOCOL_FOLDS[self.protocol]
        return tuple(f for f in known if self.folds is None or f in self.folds)


@dataclass(frozen=True)
class GridSpec:
    """The axes of the run grid besides the folds.

    Attributes:
        variants: training variants (keys of ``heritage_core/configs/variants.yaml``).
        encoders: encoder names (timm models, or ``mit_b0`` ... ``mit_b5`` for SegFormer's encoder).
        seeds: training seeds.
    """

    variants: tuple[str, ...]
    encoders: tuple[str, ...]
    seeds: tuple[int, ...] = (0,)

    def __post_init__(self) -> None:
        known = list(load_variants())
        for key, values in (("grid.variants", self.variants), ("grid.encoders", self.encoders), ("grid.seeds", self.seeds)):
            if not values or len(set(values)) != len(values):
                raise bad_value(key, list(values), "a non-empty list without repeats")
        unknown = [v for v in self.variants if v not in known]
        if unknown:
            raise bad_value("grid.variants", list(self.variants), f"a list of variants from {known} (unknown: {unknown})")
        if any(not re.fullmatch(r"[a-z0-9_.]+", e) for e in self.encoders):
            raise bad_value("grid.encoders", list(self.encoders), "a list of timm model names (lower case, digits, '_', '.')")
        if min(self.seeds) < 0:
            raise bad_value("grid.seeds", list(self.seeds), "a list of integers >= 0")


#: ``train.init`` values: every encoder starts from ImageNet weights, or every encoder from random weights.
INITS = ("pretrained", "random")


@dataclass(frozen=True)
class TrainSpec:
    """Training settings shared by every run (notebook 02; fields of ``heritage_core.train.TrainConfig``).

    Attributes:
        img_size: side of the square training crops, px (a multiple of 32; MaxViT needs more, see README), cut
            from the cached image at its own scale (README: one scale for training, selection and test).
        batch_size: images per optimiser step.
        decoder_channels: channels of the UPerNet decoder.
        epochs_scale: factor on every variant's total epochs (100 at 1.0), shared out over its stages.
        stage_epochs: variant -> explicit epochs per stage, overriding ``epochs_scale`` for that variant; every
            variant of the grid must keep the same total (equal budget).
        max_batches_per_epoch: cap on training batches per epoch, or None for all.
        batches_per_epoch: optimiser steps per epoch whatever the fold's train partition holds (crops drawn from
            successive shuffled passes), so every fold trains for the same steps; None for one pass per epoch.
        init: ``pretrained`` (every encoder of the grid has weights in ``pretrained``) or ``random`` (none has).
        pretrained: encoder -> weights: a local file, or a ``timm:<model>.<tag>`` / ``smp:<encoder>.<weights>``
            tag (ImageNet weights through the Hugging Face cache, ``heritage_core.models.weights``).
        weights_dir: a folder written by ``heritage weights fetch`` (one file per tag and ``manifest.json``):
            tags load from it only, for compute nodes without internet; None resolves them through ``HF_HOME``.
        lr_scale: factor on every stage's peak learning rate. The variants file holds the plan's rates for
            pretrained encoders (1e-5 / 5e-5 / 1e-4); random initialisation needs larger ones (the demo uses 30).
        equal_stage_lr: every stage of a variant peaks at its largest stage rate (random-init profiles: the
            plan's low early-stage rates protect pretrained features a random encoder does not have).
        tile: sliding-window tile of validation (model selection) and the final evaluation, px; None for
            ``img_size``.
        overlap: share of a tile overlapping its neighbour, in [0, 1).
        val_interval: validate every ``val_interval``-th epoch of a stage and its last one (1: every epoch).
        class_weights: weight classes by their inverse frequency in the train partition.
        augment: True (default augmentation), False (none), or settings over the defaults, e.g.
            ``{damage_crop_p: 0.5}`` (keys of ``heritage_core.data.augment.DEFAULT_AUGMENT``).
        num_workers: data-loader worker processes.
        amp: bf16 autocast on CUDA for training, validation and test (ignored on CPU: float32 throughout).
    """

    img_size: int = TrainConfig.img_size
    batch_size: int = TrainConfig.batch_size
    decoder_channels: int = TrainConfig.decoder_channels
    epochs_scale: float = TrainConfig.epochs_scale
    stage_epochs: dict[str, tuple[int, ...]] | None = None
    max_batches_per_epoch: int | None = TrainConfig.max_batches_per_epoch
    batches_per_epoch: int | None = TrainConfig.batches_per_epoch
    init: str = "pretrained"
    pretrained: dict[str, str] = field(default_factory=dict)
    weights_dir: str | None = TrainConfig.weights_dir
    lr_scale: float = TrainConfig.lr_scale
    equal_stage_lr: bool = TrainConfig.equal_stage_lr
    tile: int | None = TrainConfig.tile
    overlap: float = TrainConfig.overlap
    val_interval: int = TrainConfig.val_interval
    class_weights: bool = TrainConfig.class_weights
    augment: bool | dict[str, Any] = TrainConfig.augment
    num_workers: int = TrainConfig.num_workers
    amp: bool = TrainConfig.amp

    def __post_init__(self) -> None:
        wrong = out_of_range(dataclasses.asdict(self))  # the trainer's own rules, named by their profile key
        if wrong is not None:
            name, allowed = wrong
            raise bad_value(f"train.{name}", getattr(self, name), allowed)
        if self.init not in INITS:
            raise bad_value("train.init", self.init, f"one of {list(INITS)}")
        if isinstance(self.augment, dict):
            try:
                resolve_augment(self.augment)
            except ConfigError as exc:
                raise bad_value("train.augment", self.augment, f"True, False or valid settings ({exc})") from None
        if self.stage_epochs is not None:
            variants = load_variants()
            for variant, epochs in self.stage_epochs.items():
                if variant not in variants:
                    raise bad_value(f"train.stage_epochs.{variant}", list(epochs), f"keyed by a variant from {list(variants)}")
                stages = [stage.name for stage in variants[variant].stages]
                if len(epochs) != len(stages) or min(epochs) < 1:
                    raise bad_value(f"train.stage_epochs.{variant}", list(epochs),
                               f"{len(stages)} integer(s) >= 1, one per stage ({', '.join(stages)})")

    def epochs_for(self, variant: str) -> dict[str, Any]:
        """``epochs_scale`` and ``stage_epochs`` of the training config of ``variant``."""
        if self.stage_epochs is not None and variant in self.stage_epochs:
            return {"epochs_scale": 1.0, "stage_epochs": list(self.stage_epochs[variant])}
        return {"epochs_scale": self.epochs_scale, "stage_epochs": None}

    def total_epochs(self, variant: str) -> int:
        """The total epochs ``variant`` trains for (the trainer's rounding of ``epochs_scale``)."""
        if self.stage_epochs is not None and variant in self.stage_epochs:
            return sum(self.stage_epochs[variant])
        return sum(s.epochs for s in resolve_stages(load_variants()[variant], self.epochs_scale))


@dataclass(frozen=True)
class EvaluateSpec:
    """Evaluation of each run (notebook 03). The prediction itself (sliding windows of ``train.tile`` at the
    cache's scale, the training precision) is the run's, so that selection and test agree.

    Attributes:
        partitions: partitions to score.
        consistent: also score the hierarchy-consistent predictions.
        score_max_side_px: score against masks cached at this larger long side (the model still sees the
            training scale; its logits are resized to the mask), e.g. 2048 for ARTeFACT's thin cracks; None
            scores at ``dataset.max_side_px``.
        n_resamples: bootstrap resamples of every confidence interval.
    """

    partitions: tuple[str, ...] = EVAL_PARTITIONS
    consistent: bool = False
    score_max_side_px: int | None = None
    n_resamples: int = N_RESAMPLES

    def __post_init__(self) -> None:
        if not self.partitions or any(p not in EVAL_PARTITIONS for p in self.partitions):
            raise bad_value("evaluate.partitions", list(self.partitions), f"a non-empty list from {list(EVAL_PARTITIONS)}")
        if self.score_max_side_px is not None and self.score_max_side_px < 32:
            raise bad_value("evaluate.score_max_side_px", self.score_max_side_px, "null or an integer >= 32 (px)")
        check_at_least("evaluate", self, 1, "n_resamples")


@dataclass(frozen=True)
class AnalysisSpec:
    """Cross-run analysis (notebooks 04 and 05).

    Attributes:
        n_resamples: bootstrap resamples (DG-gap and comparison intervals).
        n_permutations: permutations of the paired tests between variants.
        heads: heads compared between variants.
    """

    n_resamples: int = N_RESAMPLES
    n_permutations: int = N_PERMUTATIONS
    heads: tuple[str, ...] = ("fine",)

    def __post_init__(self) -> None:
        check_at_least("analysis", self, 1, "n_resamples", "n_permutations")
        if not self.heads or any(h not in HEADS for h in self.heads):
            raise bad_value("analysis.heads", list(self.heads), f"a non-empty list from {list(HEADS)}")


@dataclass(frozen=True)
class ReportSpec:
    """The paper's tables and figures (notebook 05).

    Attributes:
        encoder: encoder whose runs the tables and figures report; None for the first of ``grid.encoders``.
        head: scored head of every table and figure.
        partition: test partition of the per-class table, heat map, confusion matrices and qualitative grid.
        compare: variants of the confusion matrices and the qualitative grid; None for ``flat`` and
            ``curriculum`` when the grid has both, else its first two variants.
        n_qualitative: images in the qualitative grid.
    """

    encoder: str | None = None
    head: str = "fine"
    partition: str = "ood_test"
    compare: tuple[str, ...] | None = None
    n_qualitative: int = 3

    def __post_init__(self) -> None:
        if self.head not in HEADS:
            raise bad_value("report.head", self.head, f"one of {list(HEADS)}")
        if self.partition not in ("id_test", "ood_test"):
            raise bad_value("report.partition", self.partition, "'id_test' or 'ood_test'")
        if self.compare is not None and (not self.compare or len(set(self.compare)) != len(self.compare)):
            raise bad_value("report.compare", list(self.compare), "null or a non-empty list of distinct variants")
        check_at_least("report", self, 1, "n_qualitative")


@dataclass(frozen=True)
class FilmSpec:
    """The real-pixel check: leave-one-scan-out on the real film scans (notebook 06, ``heritage_core.film``).

    Defaults and rules are :class:`heritage_core.film.FilmParams`'s (the recipe the README reports); ``film_dir``
    is the profile's own. The device is the profile's ``device``.

    Attributes:
        film_dir: folder with ``metadata.csv``, ``images/`` and ``masks/`` of the scans.
        encoder: encoder of the model trained per held-out scan.
        pretrained: local encoder weights file, or None for random initialisation.
        crop_px: side of the random training crops, px (multiple of 32).
        epochs: training epochs per held-out scan.
        crops_per_epoch: random crops per epoch (80 % centred on a damage pixel).
        batch_size: crops per optimiser step.
        lr: peak AdamW learning rate.
        tile_px: sliding-window tile side at prediction, px (multiple of 32).
        overlap: share of a tile overlapping its neighbour, in [0, 1).
        score_tile_px: side of the tiles the bootstrap resamples, px.
        n_resamples: bootstrap resamples of every interval.
        seed: seed of crops, initialisation and bootstrap.
    """

    film_dir: str = FILM_DIR
    encoder: str = FilmParams.encoder
    pretrained: str | None = FilmParams.pretrained
    crop_px: int = FilmParams.crop_px
    epochs: int = FilmParams.epochs
    crops_per_epoch: int = FilmParams.crops_per_epoch
    batch_size: int = FilmParams.batch_size
    lr: float = FilmParams.lr
    tile_px: int = FilmParams.tile_px
    overlap: float = FilmParams.overlap
    score_tile_px: int = FilmParams.score_tile_px
    n_resamples: int = FilmParams.n_resamples
    seed: int = FilmParams.seed

    def __post_init__(self) -> None:
        self.params()

    def params(self, *, device: str = FilmParams.device, smoke: bool = False) -> FilmParams:
        """The validated :class:`~heritage_core.film.FilmParams` of this section (what notebook 06 builds)."""
        fields = {k: v for k, v in dataclasses.asdict(self).items() if k != "film_dir"}
        return make_film_params(smoke=smoke, device=device, **fields)


@dataclass(frozen=True)
class GridCell:
    """One run of the grid.

    Attributes:
        fold: held-out domain slug (``all`` for ``random``).
        variant: training variant.
        encoder: encoder name.
        seed: training seed.
        split_seed: split seed of the run's manifest.
    """

    fold: str
    variant: str
    encoder: str
    seed: int
    split_seed: int

    @property
    def path(self) -> str:
        """``<fold>/<variant>/<encoder>/seed<k>``, the run's place under ``runs/`` and ``papermill_runs/<name>/``."""
        return f"{self.fold}/{self.variant}/{self.encoder}/seed{self.seed}"


@dataclass(frozen=True)
class Profile:
    """A validated suite profile (module docstring).

    Attributes:
        name: default suite name (``suites/<name>``); letters, digits, ``_``, ``-``, ``.``.
        grid: the run grid's variants, encoders and seeds (notebooks 01-05); None for no grid.
        description: one line for logs and reports.
        device: torch device of training and evaluation: ``cpu``, ``cuda`` or ``cuda:N``.
        smoke: run every notebook in smoke mode (one short epoch per stage, a few images scored).
        dataset: see :class:`DatasetSpec`.
        splits: see :class:`SplitSpec`.
        train: see :class:`TrainSpec`.
        evaluate: see :class:`EvaluateSpec`.
        analysis: see :class:`AnalysisSpec`.
        report: see :class:`ReportSpec`.
        film: the real-pixel check (notebook 06), or None to leave it out; see :class:`FilmSpec`.
        resources: see :class:`ResourcesSpec`.
    """

    name: str
    grid: GridSpec | None = None
    description: str = ""
    device: str = "cpu"
    smoke: bool = False
    dataset: DatasetSpec = field(default_factory=DatasetSpec)
    splits: SplitSpec = field(default_factory=SplitSpec)
    train: TrainSpec = field(default_factory=TrainSpec)
    evaluate: EvaluateSpec = field(default_factory=EvaluateSpec)
    analysis: AnalysisSpec = field(default_factory=AnalysisSpec)
    report: ReportSpec = field(default_factory=ReportSpec)
    film: FilmSpec | None = None
    resources: ResourcesSpec = field(default_factory=ResourcesSpec)

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise bad_value("name", self.name, "a suite name of letters, digits, '_', '-' and '.'")
        if not re.fullmatch(r"cpu|cuda(:\d+)?", self.device):
            raise bad_value("device", self.device, "'cpu', 'cuda' or 'cuda:N'")
        if self.grid is None:
            if self.film is None:
                raise ConfigError("the profile has neither 'grid' (notebooks 01-05) nor 'film' (notebook 06); "
                                  "give at least one")
            return
        if len(self.splits.seeds) not in (1, len(self.grid.seeds)):
            raise bad_value("splits.seeds", list(self.splits.seeds),
                       f"one split seed, or one per training seed ({len(self.grid.seeds)}: grid.seeds {list(self.grid.seeds)})")
        if self.report.encoder is not None and self.report.encoder not in self.grid.encoders:
            raise bad_value("report.encoder", self.report.encoder, f"null or one of grid.encoders {list(self.grid.encoders)}")
        missing = [v for v in self.report.compare or () if v not in self.grid.variants]
        if missing:
            raise bad_value("report.compare", list(self.report.compare), f"variants of grid.variants (not {missing})")
        unused = sorted(set(self.train.pretrained) - set(self.grid.encoders))
        if unused:
            raise bad_value("train.pretrained", self.train.pretrained, f"keyed by encoders of grid.encoders (not {unused})")
        if self.train.init == "pretrained":
            lacking = [e for e in self.grid.encoders if e not in self.train.pretrained]
            if lacking:
                raise bad_value("train.pretrained", self.train.pretrained,
                           f"weights for every encoder when train.init is 'pretrained' (missing: {lacking}); list "
                           f"them (e.g. {lacking[0]}: 'timm:{lacking[0]}.<tag>') or set train.init: random")
        elif self.train.pretrained:
            raise bad_value("train.pretrained", self.train.pretrained, "empty when train.init is 'random'")
        tags = {e: w for e, w in self.train.pretrained.items() if re.match(r"^(timm|smp):", w)}
        wrong = {e: w for e, w in tags.items() if not re.match(rf"^(timm|smp):{re.escape(e)}\.\S+$", w)}
        if wrong:
            raise bad_value("train.pretrained", wrong, "tags of each encoder's own architecture, e.g. "
                       f"{next(iter(wrong))}: 'timm:{next(iter(wrong))}.<tag>'")
        totals = {v: self.train.total_epochs(v) for v in self.grid.variants}
        if len(set(totals.values())) > 1:
            raise bad_value("train.stage_epochs", self.train.stage_epochs,
                       f"the same total epochs for every variant (equal budget); they total {totals}")
        if (self.evaluate.score_max_side_px is not None
                and self.evaluate.score_max_side_px <= self.dataset.max_side_px):
            raise bad_value("evaluate.score_max_side_px", self.evaluate.score_max_side_px,
                       f"null or larger than dataset.max_side_px ({self.dataset.max_side_px})")

    def compare_variants(self) -> tuple[str, ...]:
        """The variants notebook 05 compares (``report.compare`` or its default, see :class:`ReportSpec`)."""
        if self.report.compare is not None or self.grid is None:
            return self.report.compare or ()
        pair = ("flat", "curriculum")
        return pair if set(pair) <= set(self.grid.variants) else self.grid.variants[:2]

    def cells(self) -> list[GridCell]:
        """The grid, fold-major: folds x variants x encoders x seeds (this order is the SLURM array index)."""
        if self.grid is None:
            return []
        pair = len(self.splits.seeds) > 1
        return [
            GridCell(fold, variant, encoder, seed, self.splits.seeds[i] if pair else self.splits.seeds[0])
            for fold in self.splits.fold_names()
            for variant in self.grid.variants
            for encoder in self.grid.encoders
            for i, seed in enumerate(self.grid.seeds)
        ]

    def to_dict(self) -> dict[str, Any]:
        """Plain YAML/JSON-safe form (tuples as lists); :func:`profile_from_dict` reads it back unchanged."""
        return plain(dataclasses.asdict(self))


def profile_from_dict(raw: Any, *, default_name: str | None = None) -> Profile:
    """Validate a profile mapping into a :class:`Profile`.

    Args:
        raw: the parsed YAML.
        default_name: suite name when ``raw`` has no ``name`` (the file's stem).

    Returns:
        The profile.

    Raises:
        ConfigError: unknown or missing keys, wrong types or bad values; the message names the dotted key.
    """
    if isinstance(raw, dict) and "name" not in raw and default_name is not None:
        raw = {"name": default_name, **raw}
    return build_dataclass(Profile, raw, "")


def load_profile(path: str | Path) -> Profile:
    """Read and validate a YAML profile.

    Args:
        path: the profile file; a bare name such as ``demo`` is looked up as ``parameters/demo.yaml``.

    Returns:
        The :class:`Profile` (its ``name`` defaults to the file's stem).

    Raises:
        ConfigError: the file is missing or not YAML, or fails :func:`profile_from_dict`; the message names
            the file.
    """
    p = Path(path)
    if not p.is_file() and p.suffix == "" and (PROFILE_DIR / f"{p}.yaml").is_file():
        p = PROFILE_DIR / f"{p}.yaml"
    if not p.is_file():
        shipped = sorted(q.stem for q in PROFILE_DIR.glob("*.yaml"))
        raise ConfigError(f"profile '{p}' does not exist; give a YAML file or one of the shipped profiles {shipped}")
    raw = read_yaml(p, "profile")
    try:
        return profile_from_dict(raw, default_name=p.stem)
    except ConfigError as exc:
        raise ConfigError(f"profile '{p}': {exc}") from None


def profile_to_yaml(profile: Profile) -> str:
    """The resolved profile as YAML (every key, defaults filled in), as written to ``suites/<name>/profile.yaml``."""
    return yaml.safe_dump(profile.to_dict(), sort_keys=False, default_flow_style=None, width=110)

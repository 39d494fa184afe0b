"""Parameters of the leave-one-scan-out check (:mod:`heritage_core.film`): one validated dataclass, free of torch so
that suite profiles (``heritage_core.suite.profiles.FilmSpec``) take their defaults and rules from it."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from heritage_core.errors import ConfigError
from heritage_core.evaluation import N_RESAMPLES

__all__ = ["FILM_DIR", "FILM_METRICS", "SMOKE_FIELDS", "FilmParams", "make_film_params"]

#: Where the real film scans lie, relative to the project root (``../shared``, see its README).
FILM_DIR = "../shared/data/film_damage_real"

#: Damage-class scores reported per scan, in order.
FILM_METRICS = ("iou", "f1", "precision", "recall")


#: Sizes a smoke run uses: 64 px crops, one epoch of 8 crops, a 128 px evaluation window, 100 resamples.
SMOKE_FIELDS: dict[str, Any] = dict(crop_px=64, epochs=1, crops_per_epoch=8, batch_size=4, decoder_channels=16,
                                    tile_px=128, score_tile_px=32, eval_crop_px=128, n_resamples=100)


@dataclass(frozen=True)
class FilmParams:
    """Parameters of :func:`heritage_core.film.loso.run_leave_one_scan_out` (see :mod:`heritage_core.film`).

    The defaults are the run reported in the README (about 10 CPU-minutes for the four folds on 2 cores):
    ResNet-10t, whose batch-normalised stem learns from random initialisation within that budget, where
    ConvNeXt-Atto (layer norm, 4x4 patchify stem) stayed at the all-clean prior in a pilot of equal size.

    Attributes:
        encoder: encoder name (e.g. ``resnet10t``, ``convnext_atto``).
        pretrained: local encoder weights file, or None for random initialisation.
        crop_px: side of the training crops, px (multiple of 32).
        epochs: training epochs per held-out scan.
        crops_per_epoch: random crops per epoch.
        batch_size: crops per optimiser step.
        lr: peak AdamW learning rate.
        weight_decay: AdamW weight decay.
        warmup_fraction: share of the steps in linear warm-up.
        damage_crop_fraction: share of crops centred on a damage pixel, in [0, 1].
        decoder_channels: UPerNet decoder channels.
        tile_px: sliding-window tile side at prediction, px (multiple of 32).
        overlap: tile overlap fraction in [0, 1).
        score_tile_px: side of the tiles the bootstrap resamples, px.
        eval_crop_px: score only the window of this side holding the most damage; None for the whole scan.
        held_out: ids of the scans to hold out in turn; None for every scan.
        n_resamples: bootstrap resamples.
        seed: seed of crops, initialisation and bootstrap.
        device: torch device.
    """

    encoder: str = "resnet10t"
    pretrained: str | None = None
    crop_px: int = 64
    epochs: int = 10
    crops_per_epoch: int = 160
    batch_size: int = 16
    lr: float = 3e-3
    weight_decay: float = 0.01
    warmup_fraction: float = 0.05
    damage_crop_fraction: float = 0.8
    decoder_channels: int = 32
    tile_px: int = 512
    overlap: float = 0.25
    score_tile_px: int = 128
    eval_crop_px: int | None = None
    held_out: tuple[str, ...] | None = None
    n_resamples: int = N_RESAMPLES
    seed: int = 0
    device: str = "cpu"

    def __post_init__(self) -> None:
        for name in ("crop_px", "tile_px"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 32 or value % 32:
                raise ConfigError(f"film: {name} is {value!r}; give a multiple of 32 px, >= 32")
        for name in ("epochs", "crops_per_epoch", "batch_size", "decoder_channels", "score_tile_px", "n_resamples"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"film: {name} is {value!r}; give a positive integer")
        if self.held_out is not None:
            object.__setattr__(self, "held_out", tuple(str(h) for h in self.held_out))
        if self.eval_crop_px is not None and (not isinstance(self.eval_crop_px, int) or self.eval_crop_px < 32):
            raise ConfigError(f"film: eval_crop_px is {self.eval_crop_px!r}; give an integer >= 32 px or None")
        for name, low, high in (("overlap", 0, 1), ("warmup_fraction", 0, 1)):
            if not low <= getattr(self, name) < high:
                raise ConfigError(f"film: {name} is {getattr(self, name)!r}; give a fraction in [{low}, {high})")
        if not 0 <= self.damage_crop_fraction <= 1 or self.lr <= 0 or self.weight_decay < 0:
            raise ConfigError(f"film: damage_crop_fraction {self.damage_crop_fraction!r} must be in [0, 1], lr "
                              f"{self.lr!r} > 0 and weight_decay {self.weight_decay!r} >= 0")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ConfigError(f"film: seed is {self.seed!r}; give a non-negative integer")

    @classmethod
    def smoke(cls, **overrides: Any) -> FilmParams:
        """Seconds-sized parameters for tests (:data:`SMOKE_FIELDS`), then ``overrides``."""
        return cls(**{**SMOKE_FIELDS, **overrides})


def make_film_params(*, smoke: bool = False, **fields: Any) -> FilmParams:
    """:class:`FilmParams` from notebook or profile parameters, validated in one call.

    Args:
        smoke: replace the size fields (:data:`SMOKE_FIELDS`) by seconds-sized values, keeping the others
            (encoder, seed, device, learning rate, ...), to check the whole chain quickly.
        **fields: :class:`FilmParams` fields.

    Raises:
        ConfigError: an unknown field (the message lists the allowed ones) or a bad value.
    """
    allowed = list(FilmParams.__dataclass_fields__)
    unknown = sorted(set(fields) - set(allowed))
    if unknown:
        raise ConfigError(f"film: unknown parameters {unknown}; allowed are {allowed}")
    return FilmParams(**{**fields, **SMOKE_FIELDS}) if smoke else FilmParams(**fields)

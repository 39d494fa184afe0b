"""Training augmentation settings: their defaults and their validation (no torch, no albumentations).

The settings travel with a run (``TrainConfig.augment``, the profiles' ``train.augment``) and are checked where
they are written, before anything trains; :func:`heritage_core.data.loader.build_train_transform` turns them into
the albumentations pipeline.
"""
from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from heritage_core.errors import ConfigError

__all__ = ["DEFAULT_AUGMENT", "resolve_augment"]

#: Training augmentation settings and their defaults. Probabilities are in [0, 1].
#: ``scale_range`` is the factor applied to the cached image before the crop (1 = the cache's scale, the scale
#: of validation and test; > 1 zooms in, < 1 zooms out); the default is symmetric in log scale around 1
#: (0.75 = 1 / 1.33). ``damage_crop_p`` is the share of crops placed so that they hold a labelled damage pixel
#: (any label but 0 and 255, when the item has one); the others are uniform. The colour jitter factors are
#: drawn from ``[1 - x, 1 + x]``; ``hue`` is a shift in [-hue, hue] of a full turn and stays small because
#: the discolouration classes (Staining, Burn marks, Lightleak) are defined by colour.
DEFAULT_AUGMENT: Mapping[str, Any] = MappingProxyType({
    "hflip_p": 0.5,
    "vflip_p": 0.5,
    "rotate90_p": 0.5,
    "scale_p": 1.0,
    "scale_range": (0.75, 1.33),
    "damage_crop_p": 0.0,
    "color_jitter_p": 0.5,
    "brightness": 0.2,
    "contrast": 0.2,
    "saturation": 0.2,
    "hue": 0.02,
})
_PROBABILITIES = ("hflip_p", "vflip_p", "rotate90_p", "scale_p", "color_jitter_p", "damage_crop_p")
_JITTER = ("brightness", "contrast", "saturation")


def resolve_augment(augment: Mapping[str, Any] | None) -> dict[str, Any]:
    """Merge ``augment`` over :data:`DEFAULT_AUGMENT` and validate every value.

    Args:
        augment: overrides; None or ``{}`` keeps the defaults.

    Returns:
        The complete, JSON-able settings (``scale_range`` as a list), to store with a run.

    Raises:
        ConfigError: an unknown key, a probability outside [0, 1], a jitter factor outside [0, 1], a hue
            outside [0, 0.5], or a ``scale_range`` that is not two numbers ``0 < low <= high``.
    """
    augment = dict(augment or {})
    unknown = sorted(set(augment) - set(DEFAULT_AUGMENT))
    if unknown:
        raise ConfigError(f"augment: unknown keys {unknown}; allowed are {sorted(DEFAULT_AUGMENT)}")
    out = {**DEFAULT_AUGMENT, **augment}
    for key in (*_PROBABILITIES, *_JITTER, "hue"):
        value = out[key]
        upper = 0.5 if key == "hue" else 1.0
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= upper:
            raise ConfigError(f"augment: '{key}' is {value!r}; it must be a number in [0, {upper}]")
        out[key] = float(value)
    rng = out["scale_range"]
    if (
        not isinstance(rng, (list, tuple))
        or len(rng) != 2
        or any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in rng)
        or not 0.0 < rng[0] <= rng[1]
    ):
        raise ConfigError(f"augment: 'scale_range' is {rng!r}; it must be [low, high] with 0 < low <= high, e.g. [0.75, 1.5]")
    out["scale_range"] = [float(rng[0]), float(rng[1])]
    return out

"""Synthetic per-image IoU counts with a realistic structure, for the statistics tests and ``bench_stats``."""
from __future__ import annotations

import numpy as np

from heritage_core.errors import ConfigError
from heritage_core.evaluation.metrics import SegCounts, counts_from_confusion


def simulate_counts(
    n_images: int,
    num_classes: int,
    *,
    accuracy: float = 0.7,
    pixels_per_image: int = 4096,
    head: str = "fine",
    seed: int = 0,
    pred_seed: int = 0,
) -> SegCounts:
    """Synthetic per-image counts with a realistic structure, for tests, benchmarks and power checks.

    Each image holds class 0 plus one to three other classes (lower ids more frequent, so high ids are
    rare or absent); each labelled pixel is predicted correctly with an image-specific probability around
    ``accuracy``, otherwise as class 0 or another class of the image. Labels depend on ``seed`` only and
    predictions on (``seed``, ``pred_seed``, ``accuracy``), so two runs with one ``seed`` share labels.

    Args:
        n_images: number of images N.
        num_classes: number of classes C (at least 2).
        accuracy: mean per-pixel accuracy in (0, 1).
        pixels_per_image: scored pixels of each image.
        head: head name of the result.
        seed: seed of the labels.
        pred_seed: seed of the predictions.

    Returns:
        A :class:`SegCounts` with ids ``img0000``… and class names ``class_0``….

    Raises:
        ConfigError: ``num_classes`` < 2 or ``accuracy`` outside (0, 1).
    """
    if num_classes < 2 or not 0 < accuracy < 1:
        raise ConfigError(f"simulate_counts: num_classes={num_classes}, accuracy={accuracy}; need num_classes >= 2 "
                          f"and 0 < accuracy < 1")
    rng_label = np.random.default_rng([seed, 0])
    rng_pred = np.random.default_rng([seed, 1, pred_seed, int(round(accuracy * 1e6))])
    frequency = 1.0 / np.arange(1, num_classes) ** 1.2
    frequency /= frequency.sum()
    confusion = np.zeros((n_images, num_classes, num_classes), dtype=np.int64)
    for i in range(n_images):
        k = int(rng_label.integers(1, min(3, num_classes - 1) + 1))
        present = np.concatenate([[0], 1 + rng_label.choice(num_classes - 1, size=k, replace=False, p=frequency)])
        label_px = rng_label.multinomial(pixels_per_image, rng_label.dirichlet(np.ones(len(present))))
        quality = rng_pred.beta(20 * accuracy, 20 * (1 - accuracy))
        for cls, px in zip(present, label_px):
            wrong = np.full(num_classes, 0.1 / num_classes)
            wrong[present] += 1.0
            wrong[0] += 1.0
            wrong[cls] = 0.0
            p = (1 - quality) * wrong / wrong.sum()
            p[cls] = quality
            confusion[i, cls] = rng_pred.multinomial(px, p / p.sum())
    counts = counts_from_confusion(confusion)
    return SegCounts(head, tuple(f"class_{c}" for c in range(num_classes)), [f"img{i:04d}" for i in range(n_images)],
                     **counts, confusion=confusion.sum(0))

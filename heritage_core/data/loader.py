"""Training data: cached items to normalised tensors with three-level targets, and seeded loaders.

Every item of an ingest cache (:mod:`heritage_core.data.cache`) becomes one dict::

    {"image": float32 (3, S, S), "binary": int64 (S, S), "coarse": int64 (S, S), "fine": int64 (S, S), "id": str}

``S`` is ``img_size`` for training items (the cached ``H x W`` for ``train=False``). Targets carry ``IGNORE_INDEX`` (255) where a pixel is not labelled at that level:

* ``fine``-level items: ``fine`` is the mask, ``coarse`` and ``binary`` are mapped from it with
  ``default_taxonomy().map_labels`` (255 stays 255).
* ``binary``-level items: ``binary`` is the mask, ``coarse`` and ``fine`` are 255 everywhere, so such items
  train and are scored on the binary head alone.
* Padding added by a transform is 255 in every target and 0 (black) in the raw image, never a class.

Geometry: one pixel scale (README, "Scale"). Training items (``train=True``) are random ``S x S`` crops of the
*cached* image at its own scale: a random rescale by ``scale_range`` (jitter around 1.0; area interpolation
when shrinking, bilinear when enlarging, nearest-exact for masks), colour jitter, padding to at least ``S x S``
at a random position (black, as test-time tiles are), a random crop, flips and 90° rotations (see
:data:`DEFAULT_AUGMENT`). Validation and
test predict the cached image at the same scale with sliding windows of ``S`` px
(:func:`heritage_core.models.tiled.predict_logits`), so a 40 px object of the cache is 40 px (times the jitter)
in a training crop and exactly 40 px in a validation or test tile. Non-training items (``train=False``) are the
cached image and targets unchanged (sizes vary: for inspection and tests, not for batching).

Seeding. Albumentations 2.x draws from a random state owned by each ``Compose``, not from numpy's or
torch's global state, and a worker process would inherit an identical copy of it. :func:`build_loader`
therefore wraps its sampler so that every index travels with its own augmentation seed, drawn from a
``torch.Generator`` seeded with ``seed`` in the main process; the dataset re-seeds its pipeline from that
seed before transforming the item. Batches are thus a function of ``seed`` alone: the same for any
``num_workers``, and different from epoch to epoch because the generator keeps running. One numpy and one
Python generator seeded from that seed serve every transform of the pipeline in turn (:func:`seed_transform`),
so an item's flips, rotation, rescale and jitter are independent draws. The torch generator,
``loader.sampler.generator``, holds the whole batch stream: restoring its state replays an epoch exactly.

Normalisation. :data:`IMAGENET_MEAN`/:data:`IMAGENET_STD` and :func:`normalise_image` are the only image
normalisation in the project.
"""
from __future__ import annotations

import random
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, RandomSampler, Sampler, SequentialSampler
from torch.utils.data.distributed import DistributedSampler

from heritage_core.data.augment import DEFAULT_AUGMENT, resolve_augment
from heritage_core.data.cache import Cache, open_cache
from heritage_core.errors import ConfigError, DataError
from heritage_core.taxonomy import HEADS, IGNORE_INDEX, default_taxonomy

if TYPE_CHECKING:
    import albumentations as A

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "DEFAULT_AUGMENT",
    "normalise_image",
    "resolve_augment",
    "build_train_transform",
    "seed_transform",
    "SegmentationDataset",
    "seed_worker",
    "build_loader",
]

#: Per-channel RGB mean of ImageNet, for images scaled to [0, 1].
IMAGENET_MEAN = (0.485, 0.456, 0.406)
#: Per-channel RGB standard deviation of ImageNet, for images scaled to [0, 1].
IMAGENET_STD = (0.229, 0.224, 0.225)

#: ``(v / 255 - mean_c) / std_c`` for every uint8 value ``v`` and channel ``c``: a (3, 256) float32 table, so
#: normalising is a lookup (single-threaded numpy; no torch thread pool contention in the loader process).
_NORMALISE_LUT = (
    (np.arange(256, dtype=np.float64)[None, :] / 255.0 - np.array(IMAGENET_MEAN)[:, None]) / np.array(IMAGENET_STD)[:, None]
).astype(np.float32)
#: Augmentation seeds are drawn below this bound (numpy and Python seeds must be non-negative).
_SEED_BOUND = 2**31 - 1
#: Offset of the seed of the generator behind the worker base seeds, kept apart from the batch stream.
_WORKER_SEED_OFFSET = 7919


def normalise_image(image: np.ndarray) -> torch.Tensor:
    """Scale a uint8 RGB image to [0, 1] and standardise it with the ImageNet statistics.

    Args:
        image: RGB image, uint8.

    Returns:
        The normalised image, channels first.

    Shapes:
        image: (H, W, 3) -> (3, H, W) float32.

    Raises:
        DataError: ``image`` is not a uint8 (H, W, 3) array.
    """
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        seen = f"{image.dtype} {image.shape}" if isinstance(image, np.ndarray) else type(image).__name__
        raise DataError(f"normalise_image expects a uint8 (H, W, 3) RGB array, got {seen}; load it with Cache.load_image")
    return torch.from_numpy(np.stack([_NORMALISE_LUT[c][image[..., c]] for c in range(3)]))


def build_train_transform(img_size: int, augment: Mapping[str, Any] | None = None, seed: int = 0) -> A.Compose:
    """The albumentations 2.x training pipeline (see the module docstring for the geometry).

    Args:
        img_size: side of the square crop, px.
        augment: settings over :data:`DEFAULT_AUGMENT` (validated with :func:`resolve_augment`).
        seed: initial seed of the pipeline's random state (:func:`seed_transform`).

    Returns:
        A ``Compose`` taking ``image`` (H, W, 3) uint8 and ``mask`` (H, W) uint8.
    """
    import albumentations as A  # here, not at import: evaluation and reporting load this module without training

    cfg = resolve_augment(augment)
    low, high = cfg["scale_range"]
    resize = {"interpolation": cv2.INTER_LINEAR, "mask_interpolation": cv2.INTER_NEAREST_EXACT, "area_for_downscale": "image"}
    transform = A.Compose(
        [
            A.RandomScale(scale_limit=(low - 1.0, high - 1.0), p=cfg["scale_p"], **resize),
            # photometric jitter before the padding, so padded pixels are exactly black, as in test-time tiles
            A.ColorJitter(
                brightness=cfg["brightness"], contrast=cfg["contrast"], saturation=cfg["saturation"],
                hue=cfg["hue"], p=cfg["color_jitter_p"],
            ),
            A.PadIfNeeded(
                min_height=img_size, min_width=img_size, position="random",
                border_mode=cv2.BORDER_CONSTANT, fill=0, fill_mask=IGNORE_INDEX, p=1.0,
            ),
            A.OneOf([
                A.CropNonEmptyMaskIfExists(height=img_size, width=img_size, ignore_values=[0, IGNORE_INDEX],
                                           p=cfg["damage_crop_p"]),
                A.RandomCrop(height=img_size, width=img_size, p=1.0 - cfg["damage_crop_p"]),
            ], p=1.0),
            A.HorizontalFlip(p=cfg["hflip_p"]),
            A.VerticalFlip(p=cfg["vflip_p"]),
            A.RandomRotate90(p=cfg["rotate90_p"]),
        ],
        strict=True,
    )
    seed_transform(transform, seed)
    return transform


def seed_transform(transform: A.BaseCompose, seed: int) -> None:
    """Seed ``transform`` so that all its transforms draw in turn from one numpy and one Python generator.

    Args:
        transform: an albumentations pipeline; nested pipelines (``OneOf``) share the same generators.
        seed: the seed of both generators.

    Each transform's decisions are then independent draws and the whole pipeline's output a function of
    ``seed`` alone. (``Compose.set_random_seed`` instead seeds a separate generator per transform with the same
    seed, which makes their first draws equal: with p = 0.5 each, the flips and the rotation fired together, so
    an item was either left alone or rotated, never mirrored, and the rescale and jitter followed the same draw.)
    """
    transform.set_random_state(np.random.default_rng(seed), random.Random(seed))


def _check_img_size(img_size: Any) -> int:
    if isinstance(img_size, bool) or not isinstance(img_size, int) or img_size < 1:
        raise ConfigError(f"img_size is {img_size!r}; it must be a positive integer number of pixels, e.g. 512")
    return img_size


class SegmentationDataset(Dataset):
    """Items of an ingest cache as normalised image tensors with binary, coarse and fine targets.

    Args:
        cache: an open :class:`~heritage_core.data.cache.Cache` or the path of a cache folder.
        ids: item ids to serve, in order (e.g. one partition of a split manifest).
        img_size: side of the square training crops, px.
        train: apply the random training transform (crops of ``img_size`` px at the cache's scale); otherwise
            serve the cached image and its targets unchanged.
        augment: training settings over :data:`DEFAULT_AUGMENT`; validated even when ``train`` is False.

    Raises:
        DataError: an id is not in the cache.
        ConfigError: bad ``img_size`` or ``augment``.

    Indexing with an int uses the pipeline's own random stream (seeded with 0 at construction); indexing
    with ``(index, seed)``, as the loaders of :func:`build_loader` do, re-seeds it so the item depends on
    ``seed`` alone. Evaluation items ignore the seed.

    Each item's cached image and mask are memory-mapped (read-only) on first use and the maps are kept, so
    later epochs read them from the page cache without opening and parsing the ``.npy`` files again (0.9 ms of
    a 2.2 ms training item at 128 px). The maps hold no private memory and are not pickled: a worker started
    with ``spawn`` opens its own.
    """

    def __init__(
        self,
        cache: Cache | str | Path,
        ids: list[str],
        img_size: int,
        train: bool,
        augment: Mapping[str, Any] | None = None,
    ) -> None:
        self.cache = cache if isinstance(cache, Cache) else open_cache(cache)
        self.ids = [str(i) for i in ids]
        missing = [i for i in self.ids if i not in self.cache.index.index]
        if missing:
            raise DataError(
                f"cache '{self.cache.root}' has no items {missing[:5]}{' …' if len(missing) > 5 else ''} "
                f"({len(missing)} of {len(self.ids)} ids); build the split manifest from this cache"
            )
        self.img_size = _check_img_size(img_size)
        self.train = bool(train)
        self.augment = resolve_augment(augment)
        self.label_levels = [self.cache.label_level(i) for i in self.ids]
        self._transform = build_train_transform(self.img_size, self.augment) if self.train else None
        self._taxonomy = default_taxonomy()
        self._arrays: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def __len__(self) -> int:
        return len(self.ids)

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_arrays": {}}

    def _load(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """The read-only memory maps of item ``index``'s cached image (H, W, 3) and mask (H, W), uint8."""
        arrays = self._arrays.get(index)
        if arrays is None:
            item_id = self.ids[index]
            arrays = self._arrays[index] = (self.cache.load_image(item_id, mmap=True),
                                            self.cache.load_mask(item_id, mmap=True))
        return arrays

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, Any]:
        index, seed = key if isinstance(key, tuple) else (key, None)
        item_id, level = self.ids[index], self.label_levels[index]
        image, mask = self._load(index)
        if self._transform is not None:
            if seed is not None:
                seed_transform(self._transform, int(seed))
            out = self._transform(image=image, mask=mask)
            image, mask = out["image"], out["mask"]
        item: dict[str, Any] = {"image": normalise_image(image)}
        for head in HEADS:
            target = (self._taxonomy.map_labels(mask, level, head, item=item_id) if HEADS.index(head) <= HEADS.index(level)
                      else np.full(mask.shape, IGNORE_INDEX, dtype=np.uint8))
            item[head] = torch.from_numpy(target.astype(np.int64))
        item["id"] = item_id
        return item


class _AugmentSeedSampler(Sampler):
    """Yields ``(index, seed)`` pairs: the indices of ``sampler`` with one augmentation seed each.

    The seeds are drawn from ``generator`` in the main process, after the indices of the epoch.
    ``set_epoch`` is passed on to a wrapped ``DistributedSampler``.
    """

    def __init__(self, sampler: Sampler, generator: torch.Generator) -> None:
        self.sampler = sampler
        self.generator = generator

    def __len__(self) -> int:
        return len(self.sampler)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        indices = list(self.sampler)
        seeds = torch.randint(0, _SEED_BOUND, (len(indices),), generator=self.generator).tolist()
        return iter(zip(indices, seeds))

    def set_epoch(self, epoch: int) -> None:
        """Pass the epoch to the wrapped sampler (``DistributedSampler`` shuffles by epoch)."""
        if hasattr(self.sampler, "set_epoch"):
            self.sampler.set_epoch(epoch)


def seed_worker(worker_id: int) -> None:
    """``worker_init_fn``: seed Python's and numpy's global generators from the worker's torch seed.

    Torch seeds each worker with ``base_seed + worker_id``, ``base_seed`` drawn from the loader's generator,
    so any global-RNG use inside a worker is reproducible too.
    """
    worker_seed = torch.initial_seed() % 2**32
    np.random.seed(worker_seed)
    random.seed(worker_seed)


def build_loader(
    dataset: SegmentationDataset,
    batch_size: int,
    shuffle: bool,
    seed: int,
    num_workers: int = 0,
    device: str | torch.device = "cpu",
    drop_last: bool = False,
    distributed: bool = False,
    num_samples: int | None = None,
) -> DataLoader:
    """A seeded ``DataLoader`` over ``dataset`` (same ``seed`` -> same batches, for any ``num_workers``).

    Args:
        dataset: the items to load.
        batch_size: items per batch.
        shuffle: draw a new order every epoch from the seeded generator (training); else keep ``ids`` order.
        seed: seed of the ``torch.Generator`` behind the order and the augmentation seeds
            (``loader.sampler.generator``: save and restore its state to resume mid-run); worker base seeds
            come from a second generator (``loader.generator``) so they never shift that stream. With
            ``distributed``, pass the same seed on every rank: the ranks must shuffle alike to split the
            items; the rank is added to the augmentation seed inside.
        num_workers: worker processes; 0 loads in the main process. Workers persist across epochs.
        device: where batches go; memory is pinned when it is a CUDA device.
        drop_last: drop the last incomplete batch (and, with ``distributed``, the tail that does not split
            evenly over the ranks instead of repeating items).
        distributed: split the items over the ranks of the initialised process group with a
            ``DistributedSampler(seed=seed)``; call ``loader.sampler.set_epoch(epoch)`` every epoch.
        num_samples: with ``shuffle``, items drawn per epoch from successive shuffled passes over the dataset
            (each item at most once per pass; the last pass cut short), e.g. to give every epoch the same number
            of batches whatever the dataset's size; None for one pass.

    Returns:
        The loader; batches are dicts of stacked tensors plus ``"id"`` (list of str).

    Raises:
        ConfigError: bad ``batch_size``/``num_workers``/``num_samples``, ``distributed`` without a process group,
            or ``num_samples`` without ``shuffle`` or with ``distributed``.
        DataError: the dataset is empty.
    """
    for name, value, low in (("batch_size", batch_size, 1), ("num_workers", num_workers, 0)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ConfigError(f"build_loader: {name} is {value!r}; it must be an integer >= {low}")
    if len(dataset) == 0:
        raise DataError("build_loader: the dataset has no items; check that the partition's id list is not empty")
    if num_samples is not None and (isinstance(num_samples, bool) or not isinstance(num_samples, int)
                                    or num_samples < 1 or not shuffle or distributed):
        raise ConfigError(f"build_loader: num_samples is {num_samples!r}; it must be an integer >= 1, for a shuffled "
                          f"single-process loader (not with shuffle=False or distributed=True)")
    generator = torch.Generator().manual_seed(int(seed))
    if distributed:
        if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
            raise ConfigError(
                "build_loader: distributed=True needs an initialised process group; call "
                "torch.distributed.init_process_group first (torchrun does), or pass distributed=False"
            )
        base: Sampler = DistributedSampler(dataset, shuffle=shuffle, seed=int(seed), drop_last=drop_last)
        generator.manual_seed(int(seed) + torch.distributed.get_rank())
    elif shuffle:
        base = RandomSampler(dataset, generator=generator, num_samples=num_samples)
    else:
        base = SequentialSampler(dataset)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=_AugmentSeedSampler(base, generator),
        num_workers=num_workers,
        pin_memory=torch.device(device).type == "cuda",
        drop_last=drop_last,
        worker_init_fn=seed_worker,
        generator=torch.Generator().manual_seed(int(seed) + _WORKER_SEED_OFFSET),
        persistent_workers=num_workers > 0,
    )


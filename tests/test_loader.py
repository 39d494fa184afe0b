"""Tests of heritage_core.data.loader: targets per label level, 255 padding, items at the cache scale, seeding."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from heritage_core.data.cache import INDEX_COLUMNS, compute_fingerprint, open_cache
from heritage_core.data.loader import (
    DEFAULT_AUGMENT,
    IMAGENET_MEAN,
    IMAGENET_STD,
    SegmentationDataset,
    build_loader,
    normalise_image,
    resolve_augment,
)
from heritage_core.errors import ConfigError, DataError
from heritage_core.taxonomy import IGNORE_INDEX, default_taxonomy


def write_cache(root: Path, items: list[dict]) -> Path:
    """A minimal ingest cache at ``root``; ``items`` hold ``id``, ``image``, ``mask`` and optionally ``label_level``."""
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    rows = []
    for item in items:
        np.save(root / "images" / f"{item['id']}.npy", item["image"])
        np.save(root / "masks" / f"{item['id']}.npy", item["mask"])
        h, w = item["mask"].shape
        rows.append({
            "id": item["id"], "group": item["id"], "material": "Paper", "content": "Line art", "type": "",
            "label_level": item.get("label_level", "fine"), "orig_height": h, "orig_width": w,
            "height": h, "width": w, "file": item["id"], "source": "test", "sha256": item["id"],
        })
    index = pd.DataFrame(rows, columns=list(INDEX_COLUMNS))
    index.to_csv(root / "index.csv", index=False)
    (root / "dataset.json").write_text(json.dumps({"fingerprint": compute_fingerprint(index), "n_items": len(rows)}))
    return root


def random_items(n: int, height: int, width: int, seed: int = 0, labels: tuple[int, ...] = tuple(range(16))) -> list[dict]:
    """``n`` fine-level items with random images and masks drawn from ``labels``."""
    rng = np.random.default_rng(seed)
    return [
        {"id": f"item{i}", "image": rng.integers(0, 256, (height, width, 3), dtype=np.uint8),
         "mask": rng.choice(np.array(labels, dtype=np.uint8), size=(height, width))}
        for i in range(n)
    ]


@pytest.fixture()
def cache_dir(tmp_path: Path) -> Path:
    """Four fine items of odd aspect (40 x 24, labels 1..15 only, so 0 can only come from padding) and one binary item."""
    items = random_items(4, 40, 24, labels=tuple(range(1, 16)))
    items.append({"id": "film", "image": np.full((24, 40, 3), 90, dtype=np.uint8),
                  "mask": np.tile(np.array([1, 1, 255, 1], dtype=np.uint8), (24, 10)), "label_level": "binary"})
    return write_cache(tmp_path / "cache", items)


def test_normalise_image_matches_imagenet_statistics() -> None:
    image = np.array([[[0, 128, 255]]], dtype=np.uint8)
    out = normalise_image(image)
    assert out.shape == (3, 1, 1) and out.dtype == torch.float32
    expected = [(v / 255 - m) / s for v, m, s in zip((0, 128, 255), IMAGENET_MEAN, IMAGENET_STD)]
    assert torch.allclose(out[:, 0, 0], torch.tensor(expected), atol=1e-6)
    with pytest.raises(DataError, match="uint8"):
        normalise_image(np.zeros((4, 4), dtype=np.uint8))


def test_items_fine_and_binary_level_targets(cache_dir: Path) -> None:
    ds = SegmentationDataset(cache_dir, ["item0", "film"], img_size=32, train=False)
    fine_item, film_item = ds[0], ds[1]
    # evaluation items are the cached image and mask unchanged: no resize, no padding
    for item, (h, w) in ((fine_item, (40, 24)), (film_item, (24, 40))):
        assert item["image"].shape == (3, h, w) and item["image"].dtype == torch.float32
        for head in ("binary", "coarse", "fine"):
            assert item[head].shape == (h, w) and item[head].dtype == torch.int64
    cache = open_cache(cache_dir)
    assert torch.equal(fine_item["image"], normalise_image(cache.load_image("item0")))
    assert torch.equal(fine_item["fine"], torch.from_numpy(cache.load_mask("item0").astype(np.int64)))
    tax = default_taxonomy()
    assert torch.equal(fine_item["coarse"], tax.map_labels(fine_item["fine"], "fine", "coarse"))
    assert torch.equal(fine_item["binary"], tax.map_labels(fine_item["fine"], "fine", "binary"))
    # film: binary mask kept (255 stays 255), coarse/fine ignored everywhere
    assert (film_item["coarse"] == IGNORE_INDEX).all() and (film_item["fine"] == IGNORE_INDEX).all()
    assert set(film_item["binary"].unique().tolist()) == {1, IGNORE_INDEX}
    assert film_item["id"] == "film"


def test_training_padding_is_ignore_never_zero(cache_dir: Path) -> None:
    augment = {"scale_range": (0.5, 0.6), "scale_p": 1.0}  # always zoomed out: every crop holds padding
    ds = SegmentationDataset(cache_dir, [f"item{i}" for i in range(4)], img_size=32, train=True, augment=augment)
    black = normalise_image(np.zeros((1, 1, 3), dtype=np.uint8))[:, 0, 0]
    for seed in range(6):
        item = ds[(seed % 4, seed)]
        padded = item["fine"] == IGNORE_INDEX
        assert 0 < padded.sum() < 32 * 32
        assert (item["fine"] != 0).all() and (item["coarse"] != 0).all() and (item["binary"] != 0).all()
        assert (item["coarse"][padded] == IGNORE_INDEX).all() and (item["binary"][padded] == IGNORE_INDEX).all()
        # the raw image is padded with black; colour jitter keeps black black
        assert torch.allclose(item["image"][:, padded], black[:, None].expand(3, int(padded.sum())), atol=1e-5)


def test_same_seed_same_item_and_unknown_inputs(cache_dir: Path) -> None:
    ds = SegmentationDataset(cache_dir, ["item0", "item1"], img_size=32, train=True)
    a, b, c = ds[(0, 123)], ds[(0, 123)], ds[(0, 124)]
    assert torch.equal(a["image"], b["image"]) and torch.equal(a["fine"], b["fine"])
    assert not torch.equal(a["image"], c["image"])
    with pytest.raises(ConfigError, match="unknown keys.*'rotate'"):
        SegmentationDataset(cache_dir, ["item0"], img_size=32, train=True, augment={"rotate": 0.5})
    with pytest.raises(ConfigError, match="hflip_p"):
        resolve_augment({"hflip_p": 1.5})
    with pytest.raises(DataError, match="'nope'"):
        SegmentationDataset(open_cache(cache_dir), ["item0", "nope"], img_size=32, train=False)
    assert resolve_augment(None)["scale_range"] == list(DEFAULT_AUGMENT["scale_range"])


def test_flips_and_rotations_are_independent_draws(tmp_path: Path) -> None:
    # albumentations' set_random_seed gives every transform its own generator with the same seed, so the flips
    # and the rotation all fired together: an item was left alone or rotated, never mirrored
    root = write_cache(tmp_path / "cache", random_items(1, 16, 16, seed=3))
    augment = {"scale_p": 0.0, "color_jitter_p": 0.0, "damage_crop_p": 0.0}
    ds = SegmentationDataset(root, ["item0"], img_size=16, train=True, augment=augment)
    fine = torch.from_numpy(open_cache(root).load_mask("item0").astype(np.int64))
    orientations = [torch.rot90(fine, k, (0, 1)).flip(1) if mirror else torch.rot90(fine, k, (0, 1))
                    for k in range(4) for mirror in (False, True)]
    seen = []
    for seed in range(800):
        item = ds[(0, seed)]
        seen.append(next(i for i, o in enumerate(orientations) if torch.equal(item["fine"], o)))
    counts = np.bincount(seen, minlength=8)
    assert (counts > 0).all(), counts  # all eight symmetries of the square occur
    mirrored = counts[1::2].sum() / len(seen)
    assert 0.42 < mirrored < 0.58, counts  # p = 0.5 for an odd number of flips (hflip, vflip independent)
    # the same seed still gives the same item
    assert torch.equal(ds[(0, 11)]["fine"], ds[(0, 11)]["fine"])


def test_items_are_read_through_memory_maps_opened_once(cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import pickle

    cache = open_cache(cache_dir)
    opened: list[tuple[str, bool]] = []
    load_image = cache.load_image
    monkeypatch.setattr(cache, "load_image", lambda i, mmap=False: opened.append((i, mmap)) or load_image(i, mmap))
    ds = SegmentationDataset(cache, ["item0", "item1"], img_size=32, train=True)
    fresh = SegmentationDataset(cache_dir, ["item0", "item1"], img_size=32, train=True)
    for epoch in range(3):
        for index in range(2):
            item = ds[(index, 10 * epoch + index)]
            assert torch.equal(item["image"], fresh[(index, 10 * epoch + index)]["image"])
    assert opened == [("item0", True), ("item1", True)]  # once per item, memory-mapped
    assert len(fresh._arrays) == 2 and not pickle.loads(pickle.dumps(fresh))._arrays  # not sent to spawned workers
    image, mask = ds._load(0)
    assert not image.flags.writeable and not mask.flags.writeable  # a transform cannot write into the cache


def _batches(loader) -> list[dict]:
    return [batch for batch in loader]


def test_loader_is_deterministic_for_a_seed_and_any_num_workers(cache_dir: Path) -> None:
    ids = [f"item{i}" for i in range(4)] + ["film"]
    ds = SegmentationDataset(cache_dir, ids, img_size=32, train=True)
    first = _batches(build_loader(ds, batch_size=2, shuffle=True, seed=7))
    again = _batches(build_loader(ds, batch_size=2, shuffle=True, seed=7))
    workers = _batches(build_loader(ds, batch_size=2, shuffle=True, seed=7, num_workers=2))
    other = _batches(build_loader(ds, batch_size=2, shuffle=True, seed=8))
    assert [len(b["id"]) for b in first] == [2, 2, 1]
    assert first[0]["image"].shape == (2, 3, 32, 32) and first[0]["fine"].dtype == torch.int64
    for x, y, z in zip(first, again, workers):
        assert x["id"] == y["id"] == z["id"]
        for key in ("image", "binary", "coarse", "fine"):
            assert torch.equal(x[key], y[key]) and torch.equal(x[key], z[key])
    assert any(not torch.equal(x["image"], y["image"]) for x, y in zip(first, other))
    # a second epoch of the same loader draws a new order/augmentation; restoring the sampler's
    # generator state replays an epoch (what a resumed run does)
    loader = build_loader(ds, batch_size=5, shuffle=True, seed=7, num_workers=2)
    state = loader.sampler.generator.get_state()
    epoch1, epoch2 = next(iter(loader)), next(iter(loader))
    assert not torch.equal(epoch1["image"], epoch2["image"])
    loader.sampler.generator.set_state(state)
    assert torch.equal(next(iter(loader))["image"], epoch1["image"])


def test_num_samples_draws_successive_passes(cache_dir: Path) -> None:
    ids = [f"item{i}" for i in range(4)] + ["film"]
    ds = SegmentationDataset(cache_dir, ids, img_size=32, train=True)
    loader = build_loader(ds, batch_size=2, shuffle=True, seed=7, num_samples=12)
    drawn = [i for batch in loader for i in batch["id"]]
    assert len(loader) == 6 and len(drawn) == 12
    assert sorted(drawn[:5]) == sorted(drawn[5:10]) == sorted(ids)  # every item once per pass
    assert len(set(drawn[10:])) == 2
    assert [len(b["id"]) for b in build_loader(ds, batch_size=2, shuffle=True, seed=7, num_samples=3)] == [2, 1]
    for kwargs in ({"num_samples": 0}, {"num_samples": 4, "shuffle": False}):
        with pytest.raises(ConfigError, match="num_samples"):
            build_loader(ds, batch_size=2, seed=7, **{"shuffle": True, **kwargs})


def test_eval_loader_keeps_order_and_rejects_bad_settings(cache_dir: Path) -> None:
    ds = SegmentationDataset(cache_dir, ["item2", "item0", "item3"], img_size=32, train=False)
    batch = next(iter(build_loader(ds, batch_size=3, shuffle=False, seed=0)))
    assert batch["id"] == ["item2", "item0", "item3"]
    assert torch.equal(batch["fine"][1], ds[1]["fine"])
    with pytest.raises(ConfigError, match="batch_size"):
        build_loader(ds, batch_size=0, shuffle=False, seed=0)
    with pytest.raises(ConfigError, match="process group"):
        build_loader(ds, batch_size=1, shuffle=False, seed=0, distributed=True)


def test_distributed_sampler_with_a_one_rank_group(cache_dir: Path, tmp_path: Path) -> None:
    torch.distributed.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    try:
        ds = SegmentationDataset(cache_dir, [f"item{i}" for i in range(4)], img_size=32, train=False)
        loader = build_loader(ds, batch_size=4, shuffle=True, seed=3, distributed=True)
        loader.sampler.set_epoch(0)
        ids0 = next(iter(loader))["id"]
        loader.sampler.set_epoch(0)
        assert next(iter(loader))["id"] == ids0 and sorted(ids0) == [f"item{i}" for i in range(4)]
    finally:
        torch.distributed.destroy_process_group()

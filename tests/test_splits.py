"""Tests of heritage_core.splits.protocols: protocols, group leakage, stratification, determinism, manifest checks."""
from __future__ import annotations

import json
import shutil
import warnings
from collections import Counter
from types import SimpleNamespace

import hypothesis.strategies as st
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings

from heritage_core.data.prepare import prepare_dataset
from heritage_core.splits import protocols as splits
from heritage_core.errors import ConfigError, DataError, ManifestError
from heritage_core.splits.params import check_split_params
from heritage_core.splits.protocols import (
    PARTITIONS,
    SplitWarning,
    fold_slug,
    load_manifest,
    make_splits,
    make_splits_for_seeds,
    validate_manifest,
    write_manifests,
)
from split_builders import composition_index, facts_composition, fingerprint, make_index, make_row

FRACTIONS = (0.7, 0.15, 0.15)


@pytest.fixture(scope="module")
def facts_index() -> pd.DataFrame:
    return composition_index(facts_composition())


def partition_of(manifest: splits.Manifest) -> dict[str, str]:
    return {i: p for p, ids in manifest.partitions.items() for i in ids}


def as_cache(index: pd.DataFrame) -> SimpleNamespace:
    return SimpleNamespace(index=index, fingerprint=fingerprint(index))


# ------------------------------------------------------------------------------ hand-worked numbers
def test_ten_singleton_groups_split_7_2_1() -> None:
    # Deficit walk by hand with fractions (0.7, 0.15, 0.15), one item per group; the targets after k items are
    # 0.7k / 0.15k / 0.15k and each item goes to the partition furthest below its target (ties: first):
    # k=1 train, 2 train, 3 val (0.45 vs 0.1), 4 train, 5 id_test, 6 train, 7 train, 8 train, 9 val, 10 train.
    index = make_index([make_row(f"i{k}", f"g{k}", "Paper", "Line art") for k in range(10)])
    (m,) = make_splits(index, "random", seed=3)
    assert m.counts == {"train": 7, "val": 2, "id_test": 1, "ood_test": 0, "excluded": 0}
    assert (m.fold, m.held_out, m.fractions) == ("all", None, {"train": 0.7, "val": 0.15, "id_test": 0.15})


def test_locontent_folds_follow_artefact_order_and_hold_out_whole_content(facts_index: pd.DataFrame) -> None:
    manifests = make_splits(facts_index, "locontent", seed=0)
    assert [m.fold for m in manifests] == ["artistic_depiction", "photographic_depiction", "line_art",
                                           "geometric_patterns"]
    # content totals of artefact_facts.yaml: 232, 130, 23, 32 of 417
    assert [m.counts["ood_test"] for m in manifests] == [232, 130, 23, 32]
    for m in manifests:
        assert sum(m.counts[p] for p in PARTITIONS) == 417
        held = set(facts_index.index[facts_index["content"] == m.held_out])
        assert set(m.partitions["ood_test"]) == held
        validate_manifest(m, facts_index, fingerprint=fingerprint(facts_index))


def test_lomaterial_has_ten_folds_with_material_totals(facts_index: pd.DataFrame) -> None:
    manifests = make_splits(facts_index, "lomaterial", seed=0)
    assert [m.held_out for m in manifests] == list(splits.MATERIALS)
    assert [m.counts["ood_test"] for m in manifests] == [186, 42, 39, 30, 26, 23, 23, 22, 16, 10]
    assert manifests[6].fold == "lime_plaster" and manifests[6].filename == "lomaterial_seed0_lime_plaster.json"


def test_folds_of_one_seed_agree_with_random_on_in_domain_partitions(facts_index: pd.DataFrame) -> None:
    (baseline,) = make_splits(facts_index, "random", seed=5)
    reference = partition_of(baseline)
    for m in make_splits(facts_index, "locontent", seed=5):
        in_domain = {i: p for i, p in partition_of(m).items() if p != "ood_test"}
        assert in_domain == {i: reference[i] for i in in_domain}


def test_fold_slug() -> None:
    assert fold_slug("Lime plaster") == "lime_plaster"
    assert fold_slug("Artistic depiction") == "artistic_depiction"
    assert fold_slug("  Film--Emulsion! ") == "film_emulsion"
    with pytest.raises(DataError, match="'\\?\\?'"):
        fold_slug("??")


# ------------------------------------------------------------------------------ group-spanning policy
def test_group_spanning_contents_keeps_ood_exact_and_excludes_the_rest() -> None:
    rows = [make_row("mix-a1", "mix", "Paper", "Line art"), make_row("mix-a2", "mix", "Paper", "Line art"),
            make_row("mix-b1", "mix", "Paper", "Artistic depiction")]
    rows += [make_row(f"a{k}", f"ga{k}", "Paper", "Artistic depiction") for k in range(6)]
    rows += [make_row(f"l{k}", f"gl{k}", "Paper", "Line art") for k in range(6)]
    index = make_index(rows)
    with pytest.warns(SplitWarning) as record:
        art, line = make_splits(index, "locontent", seed=0)
    assert ["['mix-a1', 'mix-a2']" in str(record[0].message), "['mix-b1']" in str(record[1].message)] == [True, True]
    assert art.held_out == "Artistic depiction" and "mix-b1" in art.partitions["ood_test"]
    assert art.excluded == ["mix-a1", "mix-a2"] and art.counts["excluded"] == 2
    assert line.excluded == ["mix-b1"] and {"mix-a1", "mix-a2"} <= set(line.partitions["ood_test"])
    for m in (art, line):
        validate_manifest(m, index)
    (baseline,) = make_splits(index, "random", seed=0)
    where = partition_of(baseline)
    assert where["mix-a1"] == where["mix-a2"] == where["mix-b1"]


# ------------------------------------------------------------------------------ determinism
def test_same_seed_same_manifests_in_any_row_order(facts_index: pd.DataFrame) -> None:
    first = [m.to_dict() for m in make_splits(facts_index, "lomaterial", seed=1)]
    shuffled = facts_index.sample(frac=1.0, random_state=7)
    assert [m.to_dict() for m in make_splits(shuffled, "lomaterial", seed=1)] == first


def test_other_seed_other_manifests(facts_index: pd.DataFrame) -> None:
    a = make_splits(facts_index, "locontent", seed=0)
    b = make_splits(facts_index, "locontent", seed=1)
    assert all(x.partitions["train"] != y.partitions["train"] for x, y in zip(a, b))
    assert all(x.partitions["ood_test"] == y.partitions["ood_test"] for x, y in zip(a, b))


def test_make_splits_for_seeds_concatenates_seed_major(facts_index: pd.DataFrame) -> None:
    manifests = make_splits_for_seeds(facts_index, "locontent", [2, 0])
    assert [(m.seed, m.fold) for m in manifests][:5] == [
        (2, "artistic_depiction"), (2, "photographic_depiction"), (2, "line_art"), (2, "geometric_patterns"),
        (0, "artistic_depiction")]
    with pytest.raises(ConfigError, match="distinct"):
        make_splits_for_seeds(facts_index, "locontent", [1, 1])


# ------------------------------------------------------------------------------ stratification
def test_content_shares_match_between_partitions_on_artefact_composition(facts_index: pd.DataFrame) -> None:
    for seed in (0, 1, 2):
        (m,) = make_splits(facts_index, "random", seed=seed)
        shares = {p: facts_index.loc[m.partitions[p], "content"].value_counts(normalize=True)
                  for p in splits.ID_PARTITIONS}
        for content in splits.CONTENTS:
            assert abs(shares["train"][content] - shares["val"].get(content, 0)) <= 0.05
            assert abs(shares["train"][content] - shares["id_test"].get(content, 0)) <= 0.05


@st.composite
def stratified_index(draw: st.DrawFn) -> pd.DataFrame:
    rows, k = [], 0
    for content in ("Artistic depiction", "Line art", "Geometric patterns"):
        for material in ("Paper", "Glass"):
            for _ in range(draw(st.integers(5, 40))):
                size = draw(st.integers(1, 3))
                rows += [make_row(f"i{k}-{j}", f"g{k}", material, content) for j in range(size)]
                k += 1
    return make_index(rows)


@settings(max_examples=15, deadline=None)
@given(index=stratified_index(), seed=st.integers(0, 1000))
def test_stratification_bounds(index: pd.DataFrame, seed: int) -> None:
    # Each partition's items in a stratum (content) are within 2 x the largest group of their target share;
    # in a (content, material) cell, a contiguous block of the walk, within 4 x the largest group.
    (m,) = make_splits(index, "random", seed=seed)
    where = pd.Series(partition_of(m))
    largest = index.groupby("group").size().max()
    for keys, limit in ((["content"], 2 * largest), (["content", "material"], 4 * largest)):
        for _, block in index.groupby(keys):
            for part, share in zip(splits.ID_PARTITIONS, FRACTIONS):
                assert abs((where[block.index] == part).sum() - share * len(block)) <= limit


# ------------------------------------------------------------------------------ leakage property
@st.composite
def random_index(draw: st.DrawFn) -> pd.DataFrame:
    contents = ["Artistic depiction", "Photographic depiction", "Line art", "Geometric patterns"]
    materials = ["Paper", "Glass", "Wood"]
    # the first two groups are pure and differ in both domains, so every protocol has at least two folds
    rows = [make_row("p0", "g-first", "Paper", contents[0]), make_row("p1", "g-second", "Glass", contents[1])]
    for g in range(draw(st.integers(1, 25))):
        for j in range(draw(st.integers(1, 4))):
            material, content = draw(st.sampled_from(materials)), draw(st.sampled_from(contents))
            rows.append(make_row(f"x{g}-{j}", f"g{g}", material, content))
    return make_index(rows)


@settings(max_examples=25, deadline=None)
@given(index=random_index(), protocol=st.sampled_from(splits.PROTOCOLS), seed=st.integers(0, 2**31),
       fractions=st.sampled_from([FRACTIONS, (0.6, 0.2, 0.2), (0.8, 0.2, 0.0), (1.0, 0.0, 0.0)]))
def test_no_group_crosses_partitions(index: pd.DataFrame, protocol: str, seed: int, fractions: tuple) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SplitWarning)
        try:
            manifests = make_splits(index, protocol, seed, fractions)
        except DataError as exc:  # a fold whose every group touches the held-out domain
            assert "nothing is left to train on" in str(exc)
            return
    column = {"locontent": "content", "lomaterial": "material"}.get(protocol)
    for m in manifests:
        validate_manifest(m, index, fingerprint=fingerprint(index))
        owners = index.loc[[i for ids in m.partitions.values() for i in ids]].assign(part=pd.Series(partition_of(m)))
        assert (owners.groupby("group")["part"].nunique() == 1).all()
        assert sorted(owners.index.tolist() + m.excluded) == sorted(index.index)
        if column is None:
            assert m.partitions["ood_test"] == []
        else:
            assert m.partitions["ood_test"] == sorted(index.index[index[column] == m.held_out])
        for part, share in zip(splits.ID_PARTITIONS, fractions):
            if share == 0:
                assert m.partitions[part] == []


# ------------------------------------------------------------------------------ files and rejections
@pytest.fixture()
def written(tmp_path, facts_index):
    manifests = make_splits(facts_index, "locontent", seed=0)
    return manifests, write_manifests(manifests, tmp_path / "splits")


def edit(path, change) -> None:
    raw = json.loads(path.read_text())
    change(raw)
    path.write_text(json.dumps(raw))


def test_write_and_load_round_trip(written, facts_index) -> None:
    manifests, paths = written
    assert [p.name for p in paths] == [f"locontent_seed0_{m.fold}.json" for m in manifests]
    assert load_manifest(paths[2], as_cache(facts_index)) == manifests[2]
    assert load_manifest(paths[2]) == manifests[2]
    assert not list(paths[0].parent.glob(".*tmp"))


def test_fingerprint_mismatch_is_rejected(written, facts_index) -> None:
    _, paths = written
    other = SimpleNamespace(index=facts_index, fingerprint="7a02" + "0" * 60)
    with pytest.raises(ManifestError, match=r"built for dataset fingerprint .*but the dataset has fingerprint 7a02"):
        load_manifest(paths[0], other)


def test_unknown_id_is_rejected_with_the_id(written, facts_index) -> None:
    _, paths = written

    def add_ghost(raw: dict) -> None:
        raw["partitions"]["train"].append("ghost-001")
        raw["counts"]["train"] += 1
        raw["groups"]["train"].append("ghost")

    edit(paths[1], add_ghost)
    with pytest.raises(ManifestError, match="unknown to the dataset: \\['ghost-001'\\]"):
        load_manifest(paths[1], as_cache(facts_index))


def test_overlapping_partitions_are_rejected_with_the_ids(written) -> None:
    _, paths = written
    raw = json.loads(paths[0].read_text())
    twice = raw["partitions"]["val"][:2]

    def overlap(raw: dict) -> None:
        raw["partitions"]["train"] += twice
        raw["counts"]["train"] += 2

    edit(paths[0], overlap)
    with pytest.raises(ManifestError, match="appear more than once") as info:
        load_manifest(paths[0])
    assert all(repr(i) in str(info.value) for i in twice)


def test_group_leakage_is_rejected_on_load(tmp_path) -> None:
    index = make_index([make_row(f"i{k}-{j}", f"g{k}", "Paper", c) for k in range(10) for j in range(2)
                        for c in ["Line art" if k < 6 else "Artistic depiction"]])
    _, m = make_splits(index, "locontent", seed=0)
    (path,) = write_manifests([m], tmp_path)
    moved = m.partitions["train"][0]

    def leak(raw: dict) -> None:
        raw["partitions"]["train"].remove(moved)
        raw["partitions"]["val"].append(moved)
        raw["counts"]["train"] -= 1
        raw["counts"]["val"] += 1

    edit(path, leak)
    group = index.at[moved, "group"]
    with pytest.raises(ManifestError, match=f"group '{group}' has items in 'train' and 'val'"):
        load_manifest(path, as_cache(index))


def test_crossing_groups_are_rejected_on_write_and_on_load_without_dataset(tmp_path, facts_index) -> None:
    m = make_splits(facts_index, "random", seed=0)[0]
    stolen = m.groups["train"][0]
    bad = splits.Manifest(**{**m.to_dict(), "groups": {**m.groups, "val": sorted([*m.groups["val"], stolen])}})
    with pytest.raises(ManifestError, match=f"groups \\['{stolen}'\\] are in both 'train' and 'val'"):
        write_manifests([bad], tmp_path)
    assert not list(tmp_path.iterdir())
    (path,) = write_manifests([m], tmp_path)
    edit(path, lambda raw: raw["groups"]["val"].append(stolen))
    with pytest.raises(ManifestError, match="leakage"):
        load_manifest(path)


def test_ood_test_must_be_the_held_out_domain(written, facts_index) -> None:
    _, paths = written
    raw = json.loads(paths[3].read_text())
    dropped = raw["partitions"]["ood_test"][0]

    def drop(raw: dict) -> None:
        raw["partitions"]["ood_test"].remove(dropped)
        raw["counts"]["ood_test"] -= 1
        raw["partitions"]["val"].append(dropped)
        raw["counts"]["val"] += 1
        raw["groups"]["ood_test"].remove(facts_index.at[dropped, "group"])
        raw["groups"]["val"].append(facts_index.at[dropped, "group"])

    edit(paths[3], drop)
    with pytest.raises(ManifestError, match=f"ood_test must be exactly .*'{dropped}'"):
        load_manifest(paths[3], as_cache(facts_index))


@pytest.mark.parametrize(("change", "message"), [
    (lambda raw: raw.update(extra=1), "expected exactly"),
    (lambda raw: raw.pop("groups"), "expected exactly"),
    (lambda raw: raw.update(protocol="loo"), "allowed are locontent, lomaterial, random"),
    (lambda raw: raw.update(fold="Line art"), "not a filesystem-safe slug"),
    (lambda raw: raw["counts"].update(train=1), "counts\\['train'\\] is 1"),
    (lambda raw: raw.update(seed=-2), "seed is -2"),
])
def test_malformed_manifests_are_rejected(written, change, message) -> None:
    _, paths = written
    edit(paths[0], change)
    with pytest.raises(ManifestError, match=message):
        load_manifest(paths[0])


def test_missing_and_unreadable_files(tmp_path) -> None:
    with pytest.raises(ManifestError, match="does not exist"):
        load_manifest(tmp_path / "none.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ManifestError, match="not valid JSON"):
        load_manifest(tmp_path / "bad.json")


def test_random_manifest_with_ood_items_is_rejected(facts_index) -> None:
    m = make_splits(facts_index, "random", seed=0)[0]
    moved = m.partitions["id_test"][-1]
    parts = {**m.partitions, "id_test": m.partitions["id_test"][:-1], "ood_test": [moved]}
    bad = splits.Manifest(**{**m.to_dict(), "partitions": parts,
                             "counts": {**m.counts, "id_test": m.counts["id_test"] - 1, "ood_test": 1}})
    with pytest.raises(ManifestError, match=f"empty ood_test, but it holds \\['{moved}'\\]"):
        validate_manifest(bad)


# ------------------------------------------------------------------------------ inputs
@pytest.mark.parametrize(("fractions", "message"), [
    ((0.7, 0.2, 0.2), "must sum to 1"), ((0.7, 0.3), "three shares"), ((1.2, -0.1, -0.1), "three shares"),
    ((0.0, 0.5, 0.5), "train share > 0"),
])
def test_bad_fractions(facts_index, fractions, message) -> None:
    with pytest.raises(ConfigError, match=message):
        make_splits(facts_index, "random", 0, fractions)


def test_bad_protocol_seed_and_index(facts_index) -> None:
    with pytest.raises(ConfigError, match="allowed are locontent, lomaterial, random"):
        make_splits(facts_index, "leave_one_out", 0)
    with pytest.raises(ConfigError, match="seed is -1"):
        make_splits(facts_index, "random", -1)
    with pytest.raises(DataError, match="lacks columns \\['group'\\]"):
        make_splits(facts_index.drop(columns="group"), "random", 0)
    doubled = make_index([make_row("a", "g1", "Paper", "Line art"), make_row("a", "g2", "Paper", "Line art")])
    with pytest.raises(DataError, match="repeats ids \\['a'\\]"):
        make_splits(doubled, "random", 0, fingerprint="f")
    single = make_index([make_row(f"a{k}", f"g{k}", "Paper", "Line art") for k in range(4)])
    with pytest.raises(DataError, match="only \\['Line art'\\]"):
        make_splits(single, "locontent", 0)
    clash = make_index([make_row("a", "g1", "Paper", "Line art"), make_row("b", "g2", "Paper", "line-art")])
    with pytest.raises(DataError, match="share the fold name 'line_art'"):
        make_splits(clash, "locontent", 0)


def test_check_split_params(tmp_path) -> None:
    params = check_split_params(
        cache_dir=tmp_path / "cache", source_dir="", synthetic_n=8, synthetic_seed=0, max_side_px=64,
        protocol="lomaterial", seeds=[3, 1], fractions=[0.8, 0.1, 0.1], min_items=5, output_dir=tmp_path / "out",
        smoke=True,
    )
    assert params.seeds == (3,) and params.source_dir is None and params.report_dir == tmp_path / "out" / "report"
    good = dict(cache_dir=tmp_path / "cache", source_dir=None, synthetic_n=8, synthetic_seed=0, max_side_px=64,
                protocol="random", seeds=[0], fractions=[0.7, 0.15, 0.15], min_items=30, output_dir=tmp_path,
                smoke=False)
    for key, value, message in [("seeds", [], "seeds is"), ("seeds", [0, 0], "repeats"), ("min_items", -1, "min_items"),
                                ("protocol", "x", "protocol"), ("smoke", "yes", "smoke"),
                                ("synthetic_n", 0, "nothing to build it from")]:
        with pytest.raises(ConfigError, match=message):
            check_split_params(**{**good, key: value})


def test_prepare_dataset_needs_something_to_build_from(tmp_path) -> None:
    with pytest.raises(DataError, match="no source_dir was given"):
        prepare_dataset(tmp_path / "cache")


def test_partition_counts_are_recorded(facts_index) -> None:
    for m in make_splits(facts_index, "lomaterial", 4):
        assert m.counts == {**{p: len(m.partitions[p]) for p in PARTITIONS}, "excluded": 0}
        assert Counter(len(g) for g in m.groups.values()) == Counter(len(i) for i in m.partitions.values())
        assert np.isclose(sum(m.fractions.values()), 1.0)


def test_prepare_dataset_opens_an_existing_cache(synthetic_cache, tmp_path) -> None:
    cache = prepare_dataset(synthetic_cache, tmp_path / "unused", synthetic_n=10)
    assert cache.root == synthetic_cache and not (tmp_path / "unused").exists()


def test_prepare_dataset_generates_then_ingests_and_reuses_the_source(tmp_path) -> None:
    cache = prepare_dataset(tmp_path / "cache", tmp_path / "data", synthetic_n=18, max_side_px=64)
    shards = sorted((tmp_path / "data" / "data").glob("*.parquet"))
    assert len(cache) == 18 and shards and max(cache.index[["height", "width"]].max()) <= 64
    stamps = [p.stat().st_mtime_ns for p in shards]
    shutil.rmtree(tmp_path / "cache")
    again = prepare_dataset(tmp_path / "cache", tmp_path / "data", synthetic_n=18, max_side_px=64)
    assert again.fingerprint == cache.fingerprint and [p.stat().st_mtime_ns for p in shards] == stamps

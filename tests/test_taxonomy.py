"""Taxonomy: classes, colours, the fine -> coarse -> binary hierarchy, and 255 at every level."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import yaml

from heritage_core.errors import ConfigError, DataError
from heritage_core.taxonomy import IGNORE_INDEX, default_taxonomy, load_taxonomy, parse_taxonomy

TAX = default_taxonomy()
RAW = yaml.safe_load(open(__import__("heritage_core.taxonomy").taxonomy._DEFAULT_PATH))


def test_classes_and_colours_as_published() -> None:
    assert TAX.num_classes == {"binary": 2, "coarse": 5, "fine": 16}
    assert TAX.fine_names[1] == "Material loss" and TAX.fine_names[15] == "Lightleak"
    assert TAX.fine_colours[1] == "#1CE6FF" and TAX.fine_colours[9] == "#0000A6"
    assert TAX.fine_rgb()[7].tolist() == [0xFF, 0xA5, 0x00]
    assert TAX.ignore_colour == "#5A0007"


def test_default_coarse_groups() -> None:
    groups = {name: TAX.coarse_names[c] for name, c in zip(TAX.fine_names, TAX.fine_to_coarse)}
    assert groups["Clean"] == "clean"
    assert {n for n, g in groups.items() if g == "Structural"} == {
        "Material loss", "Peel", "Scratch", "Fold", "Cracks", "Puncture"}
    assert {n for n, g in groups.items() if g == "Deposits"} == {"Dust", "Hair", "Dirt"}
    assert {n for n, g in groups.items() if g == "Discolouration"} == {"Staining", "Burn marks", "Lightleak"}
    assert {n for n, g in groups.items() if g == "Additions"} == {"Writing", "Stamp", "Sticker"}


def test_clean_alone_is_binary_zero() -> None:
    assert [i for i, b in enumerate(TAX.fine_to_binary) if b == 0] == [0]


def test_numpy_mapping_keeps_255_and_never_clamps() -> None:
    labels = np.array([[0, 1, 3, 10], [8, 255, 15, 14]], dtype=np.uint8)
    coarse = TAX.map_labels(labels, "fine", "coarse")
    binary = TAX.map_labels(labels, "fine", "binary")
    assert coarse.tolist() == [[0, 1, 2, 3], [4, 255, 3, 3]]
    assert binary.tolist() == [[0, 1, 1, 1], [1, 255, 1, 1]]
    assert TAX.map_labels(coarse, "coarse", "binary").tolist() == binary.tolist()


@pytest.mark.parametrize("bad", [16, 254, 256, 511, -1])
def test_values_outside_the_level_are_an_error_naming_the_item(bad: int) -> None:
    # 256 would wrap to Clean in a uint8 lookup (256 & 0xFF == 0); 16 would silently become ignore
    labels = np.array([[0, 3], [255, bad]], dtype=np.int64)
    with pytest.raises(DataError, match=rf"item 'scan_7'.*\[{bad}\].*0\.\.15"):
        TAX.map_labels(labels, "fine", "coarse", item="scan_7")
    with pytest.raises(DataError, match=rf"\[{bad}\]"):
        TAX.map_labels(torch.from_numpy(labels), "fine", "binary")
    with pytest.raises(DataError, match="binary class"):
        TAX.map_labels(np.array([0, 1, 2], np.uint8), "binary", "binary")


def test_torch_mapping_matches_numpy_and_keeps_dtype() -> None:
    labels = torch.tensor([0, 2, 5, 9, 14, 255])
    out = TAX.map_labels(labels, "fine", "coarse")
    assert out.dtype == torch.long
    assert out.tolist() == TAX.map_labels(labels.numpy().astype(np.uint8), "fine", "coarse").tolist()
    assert out.tolist()[-1] == IGNORE_INDEX


def test_mapping_towards_leaves_is_refused() -> None:
    with pytest.raises(ConfigError, match="finer level"):
        TAX.lut("coarse", "fine")


def test_ancestry_rows() -> None:
    anc = TAX.ancestry()
    assert anc.shape == (16, 3)
    assert anc[0].tolist() == [0, 0, 0] and anc[5].tolist() == [1, 2, 5]


def _raw() -> dict:
    return yaml.safe_load(yaml.safe_dump(RAW))


def test_fine_class_needs_exactly_one_known_group() -> None:
    raw = _raw()
    raw["fine"][3] = ["Dust", "#FF4A46", ["Deposits", "Structural"]]
    with pytest.raises(ConfigError, match=r"fine class 3 \(Dust\) must map to exactly one coarse group"):
        parse_taxonomy(raw)
    raw["fine"][3] = ["Dust", "#FF4A46", "Smudges"]
    with pytest.raises(ConfigError, match="Smudges"):
        parse_taxonomy(raw)


def test_only_clean_maps_to_clean() -> None:
    raw = _raw()
    raw["fine"][4] = ["Scratch", "#008941", "clean"]
    with pytest.raises(ConfigError, match="Scratch"):
        parse_taxonomy(raw)


def test_ignore_must_be_255_and_unknown_keys_rejected(tmp_path) -> None:
    raw = _raw()
    raw["ignore_index"] = 0
    with pytest.raises(ConfigError, match="must be 255"):
        parse_taxonomy(raw)
    raw = _raw()
    raw["extra"] = 1
    with pytest.raises(ConfigError, match="unknown keys \\['extra'\\]"):
        parse_taxonomy(raw)


def test_load_from_yaml_file_and_missing_file(tmp_path) -> None:
    path = tmp_path / "tax.yaml"
    path.write_text(yaml.safe_dump(_raw()))
    assert load_taxonomy(path) == TAX
    with pytest.raises(ConfigError, match="does not exist"):
        load_taxonomy(tmp_path / "nope.yaml")


def test_domains_are_named_once_in_fold_order() -> None:
    from heritage_core.data import synth
    from heritage_core.splits import protocols

    assert TAX.contents == ("Artistic depiction", "Photographic depiction", "Line art", "Geometric patterns")
    assert TAX.materials[:3] == ("Paper", "Parchment", "Glass") and len(TAX.materials) == 10
    assert protocols.CONTENTS is synth.CONTENTS is TAX.contents and protocols.MATERIALS is TAX.materials
    assert set(synth.COMPOSITION) == set(TAX.materials)
    for key, bad, message in [("contents", "Line art", "must be a list of names"),
                              ("materials", ["Lime plaster", "lime-plaster"], "share a fold name")]:
        raw = _raw()
        raw[key] = bad
        with pytest.raises(ConfigError, match=message):
            parse_taxonomy(raw)

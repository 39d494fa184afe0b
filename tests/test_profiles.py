"""Suite profiles: the shipped ones load with the grids the paper and the demo promise; every kind of mistake
is a ConfigError naming the file and the dotted key."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from heritage_core.errors import ConfigError
from heritage_core.suite.profiles import (
    PROFILE_DIR,
    GridCell,
    load_profile,
    profile_from_dict,
    profile_to_yaml,
)

GRID = {"variants": ["flat", "curriculum"], "encoders": ["convnext_atto"]}
VARIANTS = ["flat", "hierarchical", "hierarchical_staged", "curriculum_only", "curriculum"]
LOCONTENT = ["artistic_depiction", "photographic_depiction", "line_art", "geometric_patterns"]


def _raw(raw: dict) -> dict:
    """``raw`` with ``train.init: random`` added (a profile must say how its encoders start)."""
    return {**raw, "train": {"init": "random", **raw.get("train", {})}}


def _write(tmp_path: Path, text: str, name: str = "p.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_shipped_profiles_have_the_promised_grids() -> None:
    demo = load_profile("demo")
    assert demo.name == "demo" and demo.device == "cpu" and demo.dataset.source == "synthetic"
    assert [(c.fold, c.variant) for c in demo.cells()] == [(f, v) for f in LOCONTENT for v in ("flat", "curriculum")]
    assert demo.grid is not None and demo.grid.encoders == ("test_resnet",) and demo.train.img_size == 64
    assert (demo.train.init, demo.train.lr_scale, demo.train.equal_stage_lr) == ("random", 30.0, True)

    cpu = load_profile("cpu")
    assert [(c.fold, c.variant) for c in cpu.cells()] == [(f, v) for f in LOCONTENT for v in VARIANTS]
    assert cpu.train.init == "random" and cpu.dataset.synthetic_n == 418 and cpu.device == "cpu"

    paper = load_profile(PROFILE_DIR / "paper.yaml")
    assert paper.grid is not None and paper.device == "cuda" and paper.dataset.source == "data/artefact"
    assert paper.grid.encoders == ("convnext_tiny", "mit_b3", "maxvit_tiny_tf_384")
    assert len(paper.cells()) == 4 * 5 * 3 * 3 == 180
    assert paper.train.img_size == 384 and paper.train.epochs_for("curriculum") == {"epochs_scale": 1.0,
                                                                                     "stage_epochs": None}
    # ImageNet weights for every encoder, at the plan's learning rates; scored at a larger side than cached
    assert paper.train.init == "pretrained" and paper.train.lr_scale == 1.0 and not paper.train.equal_stage_lr
    assert set(paper.train.pretrained) == set(paper.grid.encoders)
    assert paper.evaluate.score_max_side_px == 2048 and paper.dataset.max_side_px == 1024
    assert paper.splits.seeds == (0, 1, 2)

    smoke = load_profile("smoke")
    assert smoke.smoke and [c.path for c in smoke.cells()] == [
        "photographic_depiction/flat/convnext_atto/seed0", "photographic_depiction/curriculum/convnext_atto/seed0"]
    assert smoke.resources.gpus_per_task == 0 and smoke.resources.cpus_per_task == 1

    film = load_profile("film")
    assert film.grid is None and film.cells() == [] and film.film is not None
    assert film.film.film_dir == "../shared/data/film_damage_real" and film.film.encoder == "resnet10t"


@pytest.mark.slow
def test_paper_maxvit_takes_384_px_crops() -> None:
    """The paper's MaxViT is the *_tf_384 model: partition 12, so 384 = 32 x 12 is a valid side as it is."""
    from heritage_core.models.encoder import create_encoder

    encoder = create_encoder("maxvit_tiny_tf_384", img_size=load_profile("paper").train.img_size)
    assert encoder.size_divisor == 384 and encoder.reductions == (4, 8, 16, 32)


def test_resolved_yaml_round_trips_with_every_default_filled() -> None:
    profile = profile_from_dict(_raw({"grid": GRID}), default_name="x")
    text = profile_to_yaml(profile)
    raw = yaml.safe_load(text)
    assert raw["train"]["img_size"] == 512 and raw["splits"]["fractions"] == [0.7, 0.15, 0.15]
    assert raw["film"] is None and raw["report"]["compare"] is None
    assert profile.compare_variants() == ("flat", "curriculum")
    assert profile_from_dict(raw) == profile


def test_cells_are_fold_major_and_pair_split_seeds_with_training_seeds() -> None:
    profile = profile_from_dict(_raw({
        "name": "p", "grid": {"variants": ["flat"], "encoders": ["a", "b"], "seeds": [0, 1, 2]},
        "splits": {"seeds": [5, 6, 7], "folds": ["line_art", "artistic_depiction"]}}))
    cells = profile.cells()
    assert len(cells) == 2 * 1 * 2 * 3
    assert cells[0] == GridCell("artistic_depiction", "flat", "a", 0, 5)  # protocol order, not the listed order
    assert cells[4] == GridCell("artistic_depiction", "flat", "b", 1, 6)
    assert cells[11] == GridCell("line_art", "flat", "b", 2, 7)
    shared = profile_from_dict(_raw({"name": "p", "grid": {**GRID, "seeds": [3, 4]}, "splits": {"seeds": [9]}}))
    assert {c.split_seed for c in shared.cells()} == {9}


def test_stage_epochs_override_one_variant_and_scale_the_others() -> None:
    profile = profile_from_dict(_raw({"name": "p", "grid": GRID,
                                      "train": {"epochs_scale": 0.06, "stage_epochs": {"curriculum": [1, 2, 3]}}}))
    assert profile.train.epochs_for("curriculum") == {"epochs_scale": 1.0, "stage_epochs": [1, 2, 3]}
    assert profile.train.epochs_for("flat") == {"epochs_scale": 0.06, "stage_epochs": None}
    # every variant trains the same total epochs (equal budget): 1 + 2 + 3 against round(100 * 0.1) = 10
    with pytest.raises(ConfigError, match=r"same total epochs for every variant.*'flat': 10, 'curriculum': 6"):
        profile_from_dict(_raw({"name": "p", "grid": GRID,
                                "train": {"epochs_scale": 0.1, "stage_epochs": {"curriculum": [1, 2, 3]}}}))


def test_a_profile_says_how_its_encoders_start() -> None:
    with pytest.raises(ConfigError, match=r"train.init is 'pretrained' \(missing: \['convnext_atto'\]\).*set train.init: random"):
        profile_from_dict({"name": "p", "grid": GRID})
    with pytest.raises(ConfigError, match="train.init"):
        profile_from_dict({"name": "p", "grid": GRID, "train": {"init": "random", "pretrained": {"convnext_atto": "w.pt"}}})
    ok = profile_from_dict({"name": "p", "grid": GRID, "train": {"pretrained": {"convnext_atto": "timm:convnext_atto.d2_in1k"}}})
    assert ok.train.init == "pretrained" and ok.train.lr_scale == 1.0


def test_unknown_key_names_file_key_and_close_match(tmp_path: Path) -> None:
    path = _write(tmp_path, "grid: {variants: [flat], encoders: [convnext_atto]}\ntrain: {img_sze: 64}\n")
    with pytest.raises(ConfigError) as err:
        load_profile(path)
    text = str(err.value)
    assert f"profile '{path}'" in text and "['train.img_sze']" in text and "did you mean 'train.img_size'" in text
    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['trian'\] in the profile"):
        profile_from_dict({"name": "p", "grid": GRID, "trian": {}})


@pytest.mark.parametrize(("raw", "message"), [
    ({"train": {"img_size": "64"}}, "key 'train.img_size' must be int, got '64' (str)"),
    ({"train": {"batch_size": 8.0}}, "key 'train.batch_size' must be int, got 8.0 (float)"),
    ({"train": {"augment": "yes"}}, "key 'train.augment' must be true/false or a mapping of str to any value, got 'yes' (str)"),
    ({"splits": {"seeds": [True]}}, "key 'splits.seeds[0]' must be int, got True (bool)"),
    ({"splits": {"seeds": 0}}, "key 'splits.seeds' must be a list of int, got 0 (int)"),
    ({"train": {"max_batches_per_epoch": "2"}}, "key 'train.max_batches_per_epoch' must be int or null"),
    ({"train": {"pretrained": {"convnext_atto": 3}}}, "key 'train.pretrained.convnext_atto' must be str"),
    ({"evaluate": []}, "section 'evaluate' must be a mapping, got []"),
    ({"grid": {"variants": ["flat"]}}, "section 'grid' lacks the required key(s) ['grid.encoders']"),
])
def test_wrong_types_name_the_dotted_key(raw: dict, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        profile_from_dict(_raw({"name": "p", "grid": GRID, **raw}))
    assert message in str(err.value)


@pytest.mark.parametrize(("raw", "message"), [
    ({"train": {"img_size": 100}}, "key 'train.img_size' is 100; it must be a multiple of 32"),
    ({"splits": {"folds": ["lineart"]}}, "key 'splits.folds' is ['lineart']; it must be null or distinct folds of protocol 'locontent'"),
    ({"splits": {"protocol": "loo"}}, "key 'splits.protocol' is 'loo'"),
    ({"splits": {"fractions": [0.5, 0.2, 0.2]}}, "summing to 1"),
    ({"splits": {"seeds": [0, 1]}}, "one split seed, or one per training seed (1: grid.seeds [0])"),
    ({"train": {"stage_epochs": {"curriculum": [1, 2]}}}, "3 integer(s) >= 1, one per stage (binary, coarse, fine)"),
    ({"train": {"stage_epochs": {"bogus": [1]}}}, "key 'train.stage_epochs.bogus'"),
    ({"grid": {"variants": ["flatt"], "encoders": ["a"]}}, "(unknown: ['flatt'])"),
    ({"grid": {"variants": ["flat", "flat"], "encoders": ["a"]}}, "without repeats"),
    ({"report": {"compare": ["hierarchical"]}}, "variants of grid.variants (not ['hierarchical'])"),
    ({"report": {"encoder": "mit_b3"}}, "null or one of grid.encoders ['convnext_atto']"),
    ({"train": {"pretrained": {"mit_b3": "w.pt"}}}, "keyed by encoders of grid.encoders (not ['mit_b3'])"),
    ({"device": "gpu"}, "key 'device' is 'gpu'; it must be 'cpu', 'cuda' or 'cuda:N'"),
    ({"resources": {"time": "90 min"}}, "key 'resources.time' is '90 min'; it must be a SLURM time"),
    ({"resources": {"mem": "lots"}}, "key 'resources.mem' is 'lots'"),
    ({"name": "my suite"}, "key 'name' is 'my suite'"),
    ({"film": {"crop_px": 100}}, "film: crop_px is 100; give a multiple of 32"),
    ({"grid": None}, "neither 'grid' (notebooks 01-05) nor 'film' (notebook 06)"),
])
def test_bad_values_name_the_key_and_what_is_allowed(raw: dict, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        profile_from_dict(_raw({"name": "p", "grid": GRID, **raw}))
    assert message in str(err.value)


def test_file_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"does not exist; give a YAML file or one of the shipped profiles \[.*'demo'"):
        load_profile(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="is not valid YAML"):
        load_profile(_write(tmp_path, "grid: [unclosed\n"))
    named = load_profile(_write(tmp_path, "grid: {variants: [flat], encoders: [convnext_atto]}\ntrain: {init: random}\n",
                                "my-suite.yaml"))
    assert named.name == "my-suite"


def test_film_profile_defaults_are_the_film_recipe() -> None:
    """FilmSpec takes its defaults from FilmParams and validates through it: the two cannot drift apart."""
    from heritage_core.film import FilmParams
    from heritage_core.suite.profiles import FilmSpec

    spec = FilmSpec()
    assert spec.params() == FilmParams()  # every field the profile leaves out keeps the recipe's value
    assert spec.params(device="cuda", smoke=True).device == "cuda"
    assert FilmSpec(epochs=3, lr=0.01).params() == FilmParams(epochs=3, lr=0.01)


def test_profiles_validate_without_torch() -> None:
    # the suite process plans and checks every profile; only the notebooks it runs import torch
    code = ("import sys; from heritage_core.suite.profiles import load_profile; "
            "[load_profile(n) for n in ('demo', 'cpu', 'paper', 'smoke')]; assert 'torch' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[1])

"""The ablation at equal budget: equal total epochs at every scale, the schedule control, budgets by hand, the
learning-rate scale for random init, and which heads of a run are scored as trained."""
from __future__ import annotations

import dataclasses

import pytest

from heritage_core.errors import ConfigError
from heritage_core.evaluation.evaluate import live_heads
from heritage_core.taxonomy import HEADS
from heritage_core.train.variants import FACTORS, Stage, budget, load_variants, resolve_stages

VARIANTS = load_variants()


@pytest.mark.parametrize("scale", [1.0, 0.5, 0.25, 0.07, 0.03])
def test_every_variant_trains_the_same_total_epochs_at_every_scale(scale: float) -> None:
    totals = {name: sum(s.epochs for s in resolve_stages(v, scale)) for name, v in VARIANTS.items()}
    assert len(set(totals.values())) == 1, totals
    assert set(totals.values()) == {max(len(VARIANTS["curriculum"].stages), round(100 * scale))}
    # and so the same optimiser steps
    steps = {name: budget(resolve_stages(v, scale), 7)["steps"] for name, v in VARIANTS.items()}
    assert len(set(steps.values())) == 1


def test_too_small_a_scale_for_three_stages_is_an_error() -> None:
    with pytest.raises(ConfigError, match="epochs_scale >= 0.03"):
        resolve_stages(VARIANTS["curriculum"], 0.02)


def test_the_control_differs_from_the_curriculum_in_head_order_only() -> None:
    control, curriculum = VARIANTS["hierarchical_staged"], VARIANTS["curriculum"]
    assert set(FACTORS) == set(control.factors) == set(curriculum.factors)
    assert [k for k in FACTORS if control.factors[k] != curriculum.factors[k]] == ["head_order"]
    assert [k for k in FACTORS if control.factors[k] != VARIANTS["hierarchical"].factors[k]] == ["schedule"]
    for a, b in zip(control.stages, curriculum.stages, strict=True):
        assert (a.epochs, a.lr, a.warmup_fraction) == (b.epochs, b.lr, b.warmup_fraction)
        assert a.loss_heads == HEADS and a.trainable == ("*",)
    assert control.arch == curriculum.arch == "hierarchical"


def test_budget_by_hand() -> None:
    # one epoch of 4 steps, warm-up 2: factors 0.5, 1, 1, 0.5 (cosine over the last 2 steps) -> summed lr 3 * lr
    stage = Stage("fine", 1, 1e-3, 0.5, ("fine",), ("*",))
    b = budget((stage,), 4)
    assert b == pytest.approx({"epochs": 1, "steps": 4, "fine_steps": 4, "summed_lr": 3e-3})
    first = dataclasses.replace(stage, name="binary", loss_heads=("binary",))
    assert budget((first, stage), 4)["fine_steps"] == 4 and budget((first, stage), 4)["steps"] == 8
    # the plan's curriculum: 60 % of the steps see the fine loss and the summed lr is lower than flat's
    flat, cur = (budget(resolve_stages(VARIANTS[n]), 10) for n in ("flat", "curriculum"))
    assert cur["fine_steps"] == pytest.approx(0.6 * flat["fine_steps"]) and cur["summed_lr"] < 0.8 * flat["summed_lr"]


def test_lr_scale_and_equal_stage_lr() -> None:
    stages = resolve_stages(VARIANTS["curriculum"], lr_scale=30.0)
    assert [s.lr for s in stages] == pytest.approx([3e-4, 1.5e-3, 3e-3])
    equal = resolve_stages(VARIANTS["curriculum"], lr_scale=30.0, equal_stage_lr=True)
    assert [s.lr for s in equal] == pytest.approx([3e-3] * 3)
    # the plan's rates stay the pretrained setting
    assert [s.lr for s in resolve_stages(VARIANTS["curriculum"])] == pytest.approx([1e-5, 5e-5, 1e-4])


def test_stale_heads_of_curriculum_only_are_not_scored() -> None:
    def info(name: str) -> dict:
        v = VARIANTS[name]
        return {"arch": v.arch, "stages": [{"loss_heads": list(s.loss_heads)} for s in v.stages]}

    assert live_heads(info("curriculum_only")) == ("fine",)
    assert live_heads(info("flat")) == ("fine",)
    assert live_heads(info("curriculum")) == live_heads(info("hierarchical_staged")) == HEADS

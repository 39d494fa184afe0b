"""The 3-stage curriculum trainer and its run directory.

Public names: :class:`TrainConfig` (from a dict or YAML; unknown keys are errors), :func:`train_run` (train,
resume or skip a run; returns its folder), :func:`load_trained_model` (the final stage's best weights),
:func:`make_config` (a config from notebook parameters, with the ``smoke`` switch), :func:`budget` (steps,
fine-loss steps and summed learning rate of a schedule), :func:`train_step`
(one optimiser step, as the trainer runs it), :class:`Stage` / :class:`Variant` / :func:`load_variants`
(stages as data, ``configs/variants.yaml``), :data:`HISTORY_COLUMNS`, :class:`PreemptedError` and
:data:`PREEMPTED_EXIT_CODE`.

Command line, single process or one process per GPU::

    python -m heritage_core.train --config run.yaml [--force]
    torchrun --nproc_per_node=4 -m heritage_core.train --config run.yaml
"""
from __future__ import annotations

from heritage_core.train.config import EXECUTION_FIELDS as EXECUTION_FIELDS
from heritage_core.train.config import TrainConfig as TrainConfig
from heritage_core.train.config import make_config as make_config
from heritage_core.train.preemption import PREEMPTED_EXIT_CODE as PREEMPTED_EXIT_CODE
from heritage_core.train.preemption import PreemptedError as PreemptedError
from heritage_core.train.rundir import HISTORY_COLUMNS as HISTORY_COLUMNS
from heritage_core.train.rundir import read_history as read_history
from heritage_core.train.rundir import read_run_info as read_run_info
from heritage_core.train.variants import Stage as Stage
from heritage_core.train.variants import Variant as Variant
from heritage_core.train.variants import budget as budget
from heritage_core.train.variants import load_variants as load_variants
from heritage_core.train.variants import resolve_stages as resolve_stages
from heritage_core.train.variants import warmup_cosine as warmup_cosine

#: Public names that need torch, imported on first use: ``heritage_core.train.config`` (what the suite process
#: validates profiles with) stays importable without it.
_LAZY = {
    "load_trained_model": "heritage_core.train.loop",
    "train_run": "heritage_core.train.loop",
    "validate": "heritage_core.train.loop",
    "train_step": "heritage_core.train.step",
}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'heritage_core.train' has no attribute '{name}'")


__all__ = [
    "EXECUTION_FIELDS",
    "HISTORY_COLUMNS",
    "PREEMPTED_EXIT_CODE",
    "PreemptedError",
    "Stage",
    "TrainConfig",
    "Variant",
    "budget",
    "load_trained_model",
    "load_variants",
    "make_config",
    "read_history",
    "read_run_info",
    "resolve_stages",
    "train_run",
    "train_step",
    "validate",
    "warmup_cosine",
]

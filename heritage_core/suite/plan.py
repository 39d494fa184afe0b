"""The suite plan: a profile expanded into notebook steps, the suite folder, and each step's state on disk.

A profile (``parameters/*.yaml``, :mod:`heritage_core.suite.profiles`) expands into steps:

* ``01_splits`` once (dataset, cache, manifests, split report);
* ``02_train_curriculum`` and ``03_evaluate`` for each grid cell (fold x variant x encoder x seed), 03 after
  its own 02;
* ``04_dg_gap`` after every 03, then ``05_paper_figures``;
* ``06_film_real`` (the real-pixel check) when the profile has a ``film`` section; it depends on nothing.

Layout under the project root (``root``, where relative paths in the profile and in notebook parameters are
resolved; papermill runs every kernel there)::

    suites/<name>/profile.yaml          the resolved profile (every key); a suite keeps its profile
    suites/<name>/plan.json             name, root, notebooks folder, profile: what a SLURM task re-plans from
    suites/<name>/steps/<key>.json      one record per step: status, params hash, timings, error
    suites/<name>/{data,cache,splits,runs,results,figures,film}/   artefacts of the notebooks
    suites/<name>/slurm/                sbatch scripts, logs, submit.json (job ids)
    papermill_runs/<name>/<key>.ipynb   executed notebooks

with ``<key>`` = ``01_splits``, ``<fold>/<variant>/<encoder>/seed<k>/02_train_curriculum`` and so on.

A step is *finished* (:func:`step_state`) when its record says ``finished`` with the current parameter hash,
its artefacts are there (``run.json`` with status ``finished`` for 02, ``eval/metrics.json`` for 03, the
manifests for 01, ``film_loso.json`` for 06) and no dependency finished again after it started.
"""
from __future__ import annotations

import dataclasses
import fnmatch
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from heritage_core.errors import ConfigError, SuiteError
from heritage_core.runs import atomic_write_json, atomic_write_text, params_hash, read_json
from heritage_core.suite.profiles import SYNTHETIC, FilmSpec, GridCell, Profile, profile_from_dict, profile_to_yaml

__all__ = [
    "NOTEBOOKS",
    "NOTEBOOK_DIR",
    "EXECUTION_PARAMETERS",
    "Step",
    "SuitePlan",
    "plan_suite",
    "check_notebooks",
    "check_inputs",
    "DEMO_SUITE",
    "check_notebook_inputs",
    "prepare_suite",
    "load_plan",
    "select_steps",
    "read_record",
    "step_state",
]

#: The notebooks of a suite, in dependency order (06, the real-pixel check, depends on nothing).
NOTEBOOKS = ("01_splits", "02_train_curriculum", "03_evaluate", "04_dg_gap", "05_paper_figures", "06_film_real")
#: The project's notebooks.
NOTEBOOK_DIR = Path(__file__).resolve().parents[2] / "notebooks"
#: Notebook parameters that choose where a step runs, not what it computes: left out of the step's hash.
EXECUTION_PARAMETERS = ("device", "num_workers", "progress")
_TRAIN, _EVAL, _FILM = NOTEBOOKS[1], NOTEBOOKS[2], NOTEBOOKS[5]

# --------------------------------------------------------------------------- plan
@dataclass(frozen=True)
class Step:
    """One notebook execution.

    Attributes:
        key: identity and relative path of the executed notebook and record, e.g. ``01_splits`` or
            ``line_art/flat/convnext_tiny/seed0/02_train_curriculum``.
        notebook: notebook stem, one of :data:`NOTEBOOKS`.
        parameters: papermill parameters (paths relative to the project root).
        depends: keys of the steps that must finish first.
        cell: grid index of a per-run step (the SLURM array index), None otherwise.
    """

    key: str
    notebook: str
    parameters: dict[str, Any]
    depends: tuple[str, ...] = ()
    cell: int | None = None

    @property
    def params_hash(self) -> str:
        """Hash of the notebook and its parameters, without :data:`EXECUTION_PARAMETERS`."""
        identity = {k: v for k, v in self.parameters.items() if k not in EXECUTION_PARAMETERS}
        return params_hash({"notebook": self.notebook, "parameters": identity})


@dataclass(frozen=True)
class SuitePlan:
    """A profile expanded into steps for one suite folder.

    Attributes:
        name: suite name.
        root: project root (absolute): relative paths resolve here, kernels run here.
        notebooks_dir: folder holding the ``NN_name.ipynb`` notebooks.
        profile: the validated profile.
        steps: every step, in execution order.
    """

    name: str
    root: Path
    notebooks_dir: Path
    profile: Profile
    steps: tuple[Step, ...]

    @property
    def suite_dir(self) -> Path:
        """``<root>/suites/<name>``."""
        return self.root / "suites" / self.name

    @property
    def papermill_dir(self) -> Path:
        """``<root>/papermill_runs/<name>``: the executed notebooks."""
        return self.root / "papermill_runs" / self.name

    def step(self, key: str) -> Step:
        """The step called ``key``.

        Raises:
            SuiteError: no such step.
        """
        for s in self.steps:
            if s.key == key:
                return s
        raise SuiteError(f"suite '{self.name}' has no step '{key}'; its steps are {[s.key for s in self.steps][:6]} ...")

    def output_path(self, step: Step) -> Path:
        """Where the executed notebook of ``step`` goes."""
        return self.papermill_dir / f"{step.key}.ipynb"

    def record_path(self, step: Step) -> Path:
        """Where the record of ``step`` goes."""
        return self.suite_dir / "steps" / f"{step.key}.json"

    def to_json(self) -> dict[str, Any]:
        """The content of ``plan.json`` (steps are re-planned from the profile on load)."""
        return {"name": self.name, "root": str(self.root), "notebooks_dir": str(self.notebooks_dir),
                "profile": self.profile.to_dict(), "steps": [s.key for s in self.steps]}


def _rel(plan_name: str, *parts: str) -> str:
    return "/".join(("suites", plan_name) + parts)


def _manifest_path(name: str, profile: Profile, cell: GridCell) -> str:
    return _rel(name, "splits", f"{profile.splits.protocol}_seed{cell.split_seed}_{cell.fold}.json")


def _cache_dir(name: str, profile: Profile) -> str:
    return profile.dataset.cache_dir or _rel(name, "cache")


def _score_cache_dir(name: str, profile: Profile) -> str:
    """The cache scored at ``evaluate.score_max_side_px`` ("" when scores use the training cache)."""
    side = profile.evaluate.score_max_side_px
    return "" if side is None else f"{_cache_dir(name, profile).rstrip('/')}_score{side}"


def _splits_parameters(name: str, p: Profile) -> dict[str, Any]:
    synthetic = p.dataset.source == SYNTHETIC
    return {
        "cache_dir": _cache_dir(name, p),
        "source_dir": _rel(name, "data") if synthetic else p.dataset.source,
        "synthetic_n": p.dataset.synthetic_n if synthetic else 0,
        "synthetic_seed": p.dataset.synthetic_seed,
        "synthetic_min_mark_px": p.dataset.synthetic_min_mark_px,
        "max_side_px": p.dataset.max_side_px,
        "score_cache_dir": _score_cache_dir(name, p),
        "score_max_side_px": p.evaluate.score_max_side_px or 0,
        "protocol": p.splits.protocol,
        "seeds": sorted(set(p.splits.seeds)),
        "fractions": list(p.splits.fractions),
        "min_items": p.splits.min_items,
        "output_dir": _rel(name, "splits"),
        "smoke": False,  # 01 is cheap; its smoke mode would drop the split seeds the runs need
    }


def _train_parameters(name: str, p: Profile, cell: GridCell) -> dict[str, Any]:
    t = p.train
    return {
        "cache_dir": _cache_dir(name, p),
        "manifest_path": _manifest_path(name, p, cell),
        "run_dir": _rel(name, "runs", cell.path),
        "variant": cell.variant,
        "encoder": cell.encoder,
        "pretrained": t.pretrained.get(cell.encoder),
        "weights_dir": t.weights_dir,
        "lr_scale": t.lr_scale,
        "equal_stage_lr": t.equal_stage_lr,
        "tile": t.tile,
        "overlap": t.overlap,
        "val_interval": t.val_interval,
        "seed": cell.seed,
        "img_size": t.img_size,
        "batch_size": t.batch_size,
        "decoder_channels": t.decoder_channels,
        **t.epochs_for(cell.variant),
        "max_batches_per_epoch": t.max_batches_per_epoch,
        "batches_per_epoch": t.batches_per_epoch,
        "class_weights": t.class_weights,
        "augment": t.augment,
        "amp": t.amp,
        "num_workers": t.num_workers,
        "device": p.device,
        "smoke": p.smoke,
    }


def _evaluate_parameters(name: str, p: Profile, cell: GridCell) -> dict[str, Any]:
    e = p.evaluate
    return {
        "run_dir": _rel(name, "runs", cell.path),
        "partitions": list(e.partitions),
        "consistent": e.consistent,
        "score_cache": _score_cache_dir(name, p),
        "n_resamples": e.n_resamples,
        "device": p.device,
        "smoke": p.smoke,
    }


def _dg_parameters(name: str, p: Profile) -> dict[str, Any]:
    a = p.analysis
    return {
        "suite_dir": _rel(name),
        "output_dir": _rel(name, "results"),
        "n_resamples": a.n_resamples,
        "n_permutations": a.n_permutations,
        "heads": list(a.heads),
        "smoke": p.smoke,
    }


def _figures_parameters(name: str, p: Profile) -> dict[str, Any]:
    r = p.report
    return {
        "suite_dir": _rel(name),
        "output_dir": "paper/generated",
        "encoder": r.encoder or p.grid.encoders[0],
        "head": r.head,
        "partition": r.partition,
        "compare": list(p.compare_variants()),
        "n_qualitative": r.n_qualitative,
        "n_resamples": p.analysis.n_resamples,
        "smoke": p.smoke,
    }


def _film_parameters(name: str, p: Profile, film: FilmSpec) -> dict[str, Any]:
    return {**dataclasses.asdict(film), "output_dir": _rel(name, "film"), "device": p.device, "smoke": p.smoke}


def plan_suite(
    profile: Profile,
    *,
    name: str | None = None,
    root: str | Path = ".",
    notebooks_dir: str | Path | None = None,
) -> SuitePlan:
    """Expand ``profile`` into the steps of suite ``name``.

    Args:
        profile: the validated profile.
        name: suite name; None for ``profile.name``.
        root: project root.
        notebooks_dir: folder of the notebooks; None for the project's ``notebooks/``.

    Returns:
        The :class:`SuitePlan`.

    Raises:
        ConfigError: a bad suite name.
    """
    if name is not None and name != profile.name:
        try:
            profile = dataclasses.replace(profile, name=name)
        except ConfigError as exc:
            raise ConfigError(f"--name: {exc}") from None
    n = profile.name
    steps: list[Step] = []
    if profile.grid is not None:
        steps.append(Step(NOTEBOOKS[0], NOTEBOOKS[0], _splits_parameters(n, profile)))
        evaluations: list[str] = []
        for index, cell in enumerate(profile.cells()):
            train_key, eval_key = f"{cell.path}/{_TRAIN}", f"{cell.path}/{_EVAL}"
            steps.append(Step(train_key, _TRAIN, _train_parameters(n, profile, cell), (NOTEBOOKS[0],), index))
            steps.append(Step(eval_key, _EVAL, _evaluate_parameters(n, profile, cell), (train_key,), index))
            evaluations.append(eval_key)
        steps.append(Step(NOTEBOOKS[3], NOTEBOOKS[3], _dg_parameters(n, profile), tuple(evaluations)))
        steps.append(Step(NOTEBOOKS[4], NOTEBOOKS[4], _figures_parameters(n, profile), (NOTEBOOKS[3],)))
    if profile.film is not None:
        steps.append(Step(_FILM, _FILM, _film_parameters(n, profile, profile.film)))
    nb_dir = Path(notebooks_dir) if notebooks_dir is not None else NOTEBOOK_DIR
    return SuitePlan(n, Path(root).resolve(), nb_dir.resolve(), profile, tuple(steps))


def check_notebooks(plan: SuitePlan) -> None:
    """Check that every notebook exists and declares every parameter the plan passes to it.

    Raises:
        SuiteError: a missing notebook, or parameters it does not declare in its ``parameters`` cell.
    """
    import papermill

    needed = [nb for nb in NOTEBOOKS if any(s.notebook == nb for s in plan.steps)]
    for notebook in needed:
        path = plan.notebooks_dir / f"{notebook}.ipynb"
        if not path.is_file():
            raise SuiteError(f"notebook '{path}' does not exist; the suite needs {needed} in "
                             f"'{plan.notebooks_dir}' (jupytext --to ipynb notebooks/{notebook}.py)")
        declared = set(papermill.inspect_notebook(str(path)))
        passed = {k for s in plan.steps if s.notebook == notebook for k in s.parameters}
        unknown = sorted(passed - declared)
        if unknown:
            raise SuiteError(f"notebook '{path}' does not declare the parameter(s) {unknown} that the suite passes; "
                             f"it declares {sorted(declared)}. Update the notebook's parameters cell or "
                             f"heritage_core/suite/plan.py")


def _fetched_tags(root: Path, weights_dir: str | None) -> set[str] | None:
    """The tags a ``heritage weights fetch`` folder holds; None without a folder (tags then resolve through the
    Hugging Face cache when each run starts, before it trains)."""
    if weights_dir is None:
        return None
    manifest = root / weights_dir / "manifest.json"
    try:
        return {e["tag"] for e in json.loads(manifest.read_text())["weights"]}
    except (OSError, ValueError, KeyError, TypeError):
        return set()


def check_inputs(plan: SuitePlan) -> None:
    """Check, before anything runs or is queued, that the input files the profile names exist under the root:
    the dataset source (unless its cache is already built), the ``pretrained`` weights files and the film scans.

    Raises:
        SuiteError: the missing paths, each with the profile key that names it.
    """
    p, root, missing = plan.profile, plan.root, []
    if p.grid is not None and p.dataset.source != SYNTHETIC:
        cache = root / _cache_dir(plan.name, p)
        if not (cache / "dataset.json").is_file() and not (root / p.dataset.source).exists():
            missing.append(f"dataset.source '{p.dataset.source}'")
    fetched = _fetched_tags(root, p.train.weights_dir)
    for encoder, path in p.train.pretrained.items():
        if path.startswith(("timm:", "smp:")):
            if fetched is not None and path not in fetched:  # the runs load tags from weights_dir only
                missing.append(f"train.pretrained.{encoder} '{path}' in train.weights_dir '{p.train.weights_dir}' "
                               f"(heritage weights fetch {path} --out {p.train.weights_dir})")
        elif not (root / path).exists():
            missing.append(f"train.pretrained.{encoder} '{path}'")
    if p.film is not None:
        if not (root / p.film.film_dir / "metadata.csv").is_file():
            missing.append(f"film.film_dir '{p.film.film_dir}' (no metadata.csv)")
        if p.film.pretrained is not None and not (root / p.film.pretrained).is_file():
            missing.append(f"film.pretrained '{p.film.pretrained}'")
    if missing:
        raise SuiteError(f"suite '{plan.name}': {', '.join(missing)} not found under the project root '{root}'; "
                         f"download or build them, or fix the paths in the profile (relative to the project root)")


#: The suite ``make demo`` builds (``parameters/demo.yaml``): every notebook's parameters default to its paths.
DEMO_SUITE = "suites/demo"


def check_notebook_inputs(notebook: str, **paths: str | Path) -> None:
    """Check, before a notebook computes anything, that the inputs its parameters name exist.

    Args:
        notebook: the notebook, for the message (e.g. ``04_dg_gap``).
        **paths: parameter name -> the path it names; "" (the input is not used) is skipped. Relative paths
            resolve in the working folder: the project root under ``make lab`` and ``heritage suite run``.

    Raises:
        ConfigError: the missing paths, each with its parameter; when one lies in :data:`DEMO_SUITE` (a default)
            the message says to run ``make demo`` first.
    """
    missing = {name: str(path) for name, path in paths.items() if str(path) and not Path(path).exists()}
    if not missing:
        return
    names = ", ".join(missing)
    if any(Path(path).parts[:2] == Path(DEMO_SUITE).parts for path in missing.values()):
        advice = (f"these are the demo suite's (the notebook's defaults): run `make demo` first, in the project "
                  f"root, or set {names} to the paths of another suite")
    else:
        advice = f"set {names} to existing paths in the parameters cell"
    listed = ", ".join(f"{name} '{path}'" for name, path in missing.items())
    raise ConfigError(f"{notebook}: {listed} not found (working folder '{Path.cwd()}'); {advice}")


def prepare_suite(plan: SuitePlan) -> None:
    """Create the suite folder and write ``profile.yaml`` and ``plan.json``.

    Raises:
        SuiteError: the folder holds a suite made from another profile (the differing keys are named).
    """
    path = plan.suite_dir / "profile.yaml"
    new = profile_to_yaml(plan.profile)
    if path.is_file() and path.read_text() != new:
        import yaml

        old = yaml.safe_load(path.read_text()) or {}
        changed = _diff_keys(old, plan.profile.to_dict())
        raise SuiteError(
            f"suite '{plan.suite_dir}' was made from another profile (changed: {changed[:8]}); its runs would mix "
            f"parameters. Give the new profile another --name, or delete '{plan.suite_dir}' to start over"
        )
    atomic_write_text(path, new)
    atomic_write_json(plan.suite_dir / "plan.json", plan.to_json())


def _diff_keys(a: Any, b: Any, prefix: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        return [k for key in sorted(set(a) | set(b), key=str)
                for k in _diff_keys(a.get(key), b.get(key), f"{prefix}{key}.")]
    return [] if a == b else [prefix.rstrip(".")]


def load_plan(suite_dir: str | Path) -> SuitePlan:
    """Re-plan a suite from its ``plan.json``.

    Raises:
        SuiteError: no readable ``plan.json``.
    """
    path = Path(suite_dir) / "plan.json"
    if not path.is_file():
        raise SuiteError(f"'{suite_dir}' is not a suite folder (no plan.json); start it with 'heritage suite run' "
                         f"or 'heritage suite submit'")
    raw = read_json(path)
    profile = profile_from_dict(raw["profile"])
    return plan_suite(profile, root=raw["root"], notebooks_dir=raw["notebooks_dir"])


def select_steps(plan: SuitePlan, only: Sequence[str] = ()) -> list[Step]:
    """The steps named by ``only`` (all when empty), in execution order.

    Args:
        plan: the plan.
        only: notebook stems (``02_train_curriculum``), their numbers (``02``), or fnmatch patterns over
            step keys (``line_art/*``).

    Returns:
        The selected steps.

    Raises:
        SuiteError: a name that selects nothing.
    """
    if not only:
        return list(plan.steps)
    chosen: list[Step] = []
    for name in only:
        hits = [s for s in plan.steps
                if name in (s.notebook, s.notebook[:2]) or fnmatch.fnmatchcase(s.key, name)]
        if not hits:
            raise SuiteError(f"--only {name!r} selects no step; give a notebook ({', '.join(NOTEBOOKS)}), its "
                             f"number (01..05) or a pattern over step keys such as 'line_art/*'")
        chosen += hits
    keys = {s.key for s in chosen}
    return [s for s in plan.steps if s.key in keys]


# --------------------------------------------------------------------------- state
def read_record(path: str | Path) -> dict[str, Any] | None:
    """A JSON record (step record, ``run.json``, ``submit.json``), or None when missing or unreadable."""
    try:
        return read_json(path)
    except (OSError, ValueError):
        return None


def _artefacts_present(plan: SuitePlan, step: Step) -> bool:
    root = plan.root
    if step.notebook == NOTEBOOKS[0]:
        return all((root / _manifest_path(plan.name, plan.profile, c)).is_file() for c in plan.profile.cells())
    if step.notebook == _TRAIN:
        info = read_record(root / step.parameters["run_dir"] / "run.json")
        return info is not None and info.get("status") == "finished"
    if step.notebook == _EVAL:
        return (root / step.parameters["run_dir"] / "eval" / "metrics.json").is_file()
    if step.notebook == _FILM:
        return (root / step.parameters["output_dir"] / "film_loso.json").is_file()
    return True


def step_state(plan: SuitePlan, step: Step) -> str:
    """State of ``step`` on disk.

    Returns:
        ``pending`` (never run), ``running`` (running, or killed while running), ``failed``, ``preempted``
        (stopped by SIGUSR1 with a checkpoint), ``stale`` (finished with other parameters), ``incomplete``
        (finished, but its artefacts are gone or its run is not finished), ``outdated`` (finished, but a
        dependency finished again after it started) or ``finished``.
    """
    record = read_record(plan.record_path(step))
    if record is None:
        return "pending"
    if record.get("status") != "finished":
        return str(record.get("status"))
    if record.get("params_hash") != step.params_hash:
        return "stale"
    if not _artefacts_present(plan, step):
        return "incomplete"
    for dep in step.depends:
        dep_record = read_record(plan.record_path(plan.step(dep))) or {}
        if str(dep_record.get("finished") or "") > str(record.get("started")):
            return "outdated"
    return "finished"

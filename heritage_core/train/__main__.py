"""``python -m heritage_core.train --config run.yaml [--force]``: train one run from a YAML config.

Under ``torchrun`` (``torchrun --nproc_per_node=4 -m heritage_core.train --config run.yaml``) every process
runs this entry; rank 0 writes the run directory. Exit status: 0 done, 2 a heritage error (message on
stderr), :data:`~heritage_core.train.preemption.PREEMPTED_EXIT_CODE` (75) preempted with a checkpoint saved.
"""
from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from heritage_core.errors import HeritageError
from heritage_core.runs import quiet_environment
from heritage_core.train.config import TrainConfig
from heritage_core.train.loop import train_run
from heritage_core.train.preemption import PREEMPTED_EXIT_CODE, PreemptedError


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m heritage_core.train``."""
    parser = argparse.ArgumentParser(
        prog="python -m heritage_core.train",
        description="Train one run (all stages of a variant) from a YAML file of TrainConfig fields; resumes an "
        "unfinished run in the same run_dir, does nothing for a finished one unless --force.",
    )
    parser.add_argument("--config", required=True,
                        help="YAML file with the TrainConfig fields (unknown keys are errors)")
    parser.add_argument("--force", action="store_true", help="retrain a finished run or overwrite another run's dir")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    quiet_environment()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    args = build_parser().parse_args(argv)
    try:
        train_run(TrainConfig.from_yaml(args.config), force=args.force)
    except PreemptedError as exc:
        print(f"PreemptedError: {exc}", file=sys.stderr)
        return PREEMPTED_EXIT_CODE
    except HeritageError as exc:
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The ``heritage`` command line: parses arguments and calls one library function per subcommand.

Run ``heritage --help`` (or ``heritage SUBCOMMAND --help``) for the full list.
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from heritage_core.errors import HeritageError
from heritage_core.runs import offline_environment

__all__ = ["main", "build_parser"]


def _cmd_synth(args: argparse.Namespace) -> int:
    from heritage_core.data.synth import write_synthetic_dataset

    out = write_synthetic_dataset(args.out, n=args.n, seed=args.seed, max_side_px=args.max_side)
    print(f"wrote {args.n} synthetic ARTeFACT-schema items to {out}")
    return 0


def _cmd_ingest(args: argparse.Namespace) -> int:
    from heritage_core.data.ingest import ingest

    report = ingest(args.source, args.out, max_side_px=args.max_side, skip_bad=args.skip_bad, progress=not args.quiet)
    print(report)
    return 0


def _cmd_data_check(args: argparse.Namespace) -> int:
    from heritage_core.data.validate import check_source

    summary = check_source(args.source, progress=not args.quiet)
    print(summary)
    return 0 if summary.ok else 1


def build_parser() -> argparse.ArgumentParser:
    """The argparse parser of the ``heritage`` command."""
    parser = argparse.ArgumentParser(
        prog="heritage",
        description="Hierarchical damage segmentation of heritage artworks (ARTeFACT): data, splits, training, "
        "evaluation and the paper suite.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("synth", help="write the embedded procedurally generated dataset in ARTeFACT's parquet schema",
                       description="Write a procedurally generated, ARTeFACT-shaped dataset as parquet shards "
                       "(data/train-*.parquet) in the exact published schema. Deterministic for a seed.")
    p.add_argument("--out", required=True, help="output folder (holds data/train-*.parquet)")
    p.add_argument("--n", type=int, default=418, help="number of items (default: 418, ARTeFACT's size)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    p.add_argument("--max-side", type=int, default=512, help="long side of the generated images in px (default: 512)")
    p.set_defaults(func=_cmd_synth)

    p = sub.add_parser("ingest", help="decode a dataset once into a fast uint8 cache with index.csv",
                       description="Decode SOURCE (ARTeFACT parquet folder, metadata.csv folder, or binary-mask "
                       "folder), downsize so the long side <= --max-side, validate, and write the cache to --out. "
                       "Nothing is written unless every item passes (or --skip-bad is given).")
    p.add_argument("source", help="ARTeFACT parquet folder/file, folder with metadata.csv, or binary-mask folder")
    p.add_argument("--out", required=True, help="cache folder to write")
    p.add_argument("--max-side", type=int, default=1024, help="long side of cached items in px (default: 1024)")
    p.add_argument("--skip-bad", action="store_true", help="record bad items in rejected.csv and continue")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_ingest)

    p = sub.add_parser("data", help="dataset utilities (check)")
    data_sub = p.add_subparsers(dest="data_command", metavar="DATA_COMMAND", required=True)
    q = data_sub.add_parser("check", help="validate a dataset source without writing; print a summary",
                            description="Run ingest's validation on SOURCE without writing anything and print "
                            "counts per material x content and the class pixel share. Exit 1 if any item is bad.")
    q.add_argument("source", help="dataset source, as for 'heritage ingest'")
    q.add_argument("--quiet", action="store_true", help="no progress bar")
    q.set_defaults(func=_cmd_data_check)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``heritage`` console script."""
    offline_environment()
    args = build_parser().parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except HeritageError as exc:
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

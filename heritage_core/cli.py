"""The ``heritage`` command line: parses arguments and calls one library function per subcommand.

Run ``heritage --help`` (or ``heritage SUBCOMMAND --help``) for the full list.
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from heritage_core.errors import HeritageError
from heritage_core.evaluation import N_PERMUTATIONS, N_RESAMPLES
from heritage_core.film.settings import FILM_DIR, FilmParams
from heritage_core.runs import quiet_environment

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


def _cmd_data_download(args: argparse.Namespace) -> int:
    from heritage_core.data.download import download_artefact

    record = download_artefact(args.out, repo=args.repo, revision=args.revision)
    print(f"{len(record['files'])} parquet shards of {record['repo']}@{record['revision']} in {args.out}/data; "
          f"next: heritage ingest {args.out} --out cache/artefact")
    return 0


def _cmd_weights_fetch(args: argparse.Namespace) -> int:
    from heritage_core.models.weights import fetch_weights

    manifest = fetch_weights(list(args.tags), args.out)
    print(f"wrote {len(args.tags)} weights file(s) and {manifest}; set train.weights_dir: {args.out} in a profile "
          f"(or weights_dir in notebook 02) to load them without internet")
    return 0


def _cmd_splits(args: argparse.Namespace) -> int:
    from heritage_core.splits.report import write_splits_and_report

    paths = write_splits_and_report(
        args.cache, args.out, args.protocol, args.seeds, tuple(args.fractions), args.min_items
    )
    print(f"wrote {len(paths['manifests'])} manifests to {args.out} and the split report to {paths['table'].parent}")
    return 0


def _cmd_metrics_summarise(args: argparse.Namespace) -> int:
    from heritage_core.evaluation.stats import summarise_counts
    from heritage_core.runs import atomic_write_text

    table = summarise_counts(args.path, n_resamples=args.resamples, ci=args.ci, method=args.method, seed=args.seed)
    if args.csv:
        atomic_write_text(args.csv, table.to_csv(index=False))
    print(table.to_string(index=False, float_format=lambda v: f"{100 * v:.1f}"))
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from heritage_core.report import check_report_params, write_paper_assets

    params = check_report_params(
        suite_dir=args.suite_dir, results_dir=args.results_dir, output_dir=args.output_dir,
        figures_dir=args.figures_dir, head=args.head, encoder=args.encoder, smoke=args.smoke,
    )
    out = write_paper_assets(params)
    print(f"wrote {len(out)} paper assets to {params.output_dir}")
    return 0


def _cmd_paper(args: argparse.Namespace) -> int:
    from heritage_core.report import build_paper

    print(f"wrote {build_paper(args.suite, args.paper_dir, install=not args.no_install)}")
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    from heritage_core.train import PREEMPTED_EXIT_CODE, PreemptedError, TrainConfig, train_run

    try:
        run_dir = train_run(TrainConfig.from_yaml(args.config), force=args.force)
    except PreemptedError as exc:
        print(f"PreemptedError: {exc}", file=sys.stderr)
        return PREEMPTED_EXIT_CODE
    print(run_dir)
    return 0


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from heritage_core.evaluation.evaluate import evaluate_run
    from heritage_core.evaluation.store import summary_table

    out = evaluate_run(args.run_dir, partitions=args.partitions, score_cache=args.score_cache,
                       consistent=args.consistent, device=args.device, smoke=args.smoke,
                       n_resamples=args.resamples, seed=args.seed)
    print(summary_table(out["metrics"]).to_string(index=False, float_format=lambda v: f"{100 * v:.1f}"))
    return 0


def _cmd_dg(args: argparse.Namespace) -> int:
    from heritage_core.evaluation.analysis import check_dg_params, run_dg_analysis

    params = check_dg_params(suite_dir=args.suite_dir or "", run_dirs=args.run_dirs or [], output_dir=args.output_dir,
                             n_resamples=args.resamples, n_permutations=args.permutations, seed=args.seed,
                             heads=args.heads, smoke=args.smoke)
    for name, path in run_dg_analysis(params).items():
        print(f"{name}: {path}")
    return 0


def _cmd_film(args: argparse.Namespace) -> int:
    from heritage_core.film import make_film_params
    from heritage_core.film.loso import film_summary, run_leave_one_scan_out

    params = make_film_params(smoke=args.smoke, encoder=args.encoder, crop_px=args.crop_px, epochs=args.epochs,
                              crops_per_epoch=args.crops_per_epoch, batch_size=args.batch_size, lr=args.lr,
                              tile_px=args.tile_px, n_resamples=args.n_resamples, seed=args.seed, device=args.device,
                              held_out=args.held_out or None)
    print(film_summary(run_leave_one_scan_out(args.film_dir, args.out, params, progress=True)).to_string())
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argparse parser of the ``heritage`` command."""
    parser = argparse.ArgumentParser(
        prog="heritage",
        description="Hierarchical damage segmentation of heritage artworks (ARTeFACT): data, splits, training, "
        "evaluation and the paper suite.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _add_data_commands(sub)
    _add_run_commands(sub)
    _add_result_commands(sub)
    return parser


def _add_resampling(p: argparse.ArgumentParser) -> None:
    """``--resamples`` and ``--seed`` of the commands that draw intervals."""
    p.add_argument("--resamples", type=int, default=N_RESAMPLES, help=f"bootstrap resamples (default: {N_RESAMPLES})")
    p.add_argument("--seed", type=int, default=0, help="resampling seed (default: 0)")


def _add_data_commands(sub: argparse._SubParsersAction) -> None:
    """``synth``, ``ingest``, ``data``, ``weights``, ``splits``."""
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

    p = sub.add_parser("data", help="dataset utilities (check, download)")
    data_sub = p.add_subparsers(dest="data_command", metavar="DATA_COMMAND", required=True)
    q = data_sub.add_parser("check", help="validate a dataset source without writing; print a summary",
                            description="Run ingest's validation on SOURCE without writing anything and print "
                            "counts per material x content and the class pixel share. Exit 1 if any item is bad.")
    q.add_argument("source", help="dataset source, as for 'heritage ingest'")
    q.add_argument("--quiet", action="store_true", help="no progress bar")
    q.set_defaults(func=_cmd_data_check)
    q = data_sub.add_parser("download", help="download ARTeFACT's parquet shards from the Hugging Face Hub",
                            description="Fetch the dataset's data/*.parquet shards (ARTeFACT: ~4 GB in 28 shards; "
                            "resumable, cached under HF_HOME) and lay them out as OUT/data/*.parquet with "
                            "OUT/download.json (repository, revision); then run 'heritage ingest OUT'.")
    q.add_argument("--out", required=True, help="folder to write (e.g. data/artefact)")
    q.add_argument("--repo", default="danielaivanova/damaged-media", help="dataset repository id")
    q.add_argument("--revision", default=None, help="branch, tag or commit (default: the main branch)")
    q.set_defaults(func=_cmd_data_download)

    p = sub.add_parser("weights", help="encoder weights (fetch)")
    w_sub = p.add_subparsers(dest="weights_command", metavar="WEIGHTS_COMMAND", required=True)
    q = w_sub.add_parser("fetch", help="download timm:/smp: weights once, for compute nodes without internet",
                         description="Resolve each tag (timm:<model>.<tag>, smp:<encoder>.<weights>) through the "
                         "Hugging Face cache, downloading when needed, and write one .safetensors per tag and "
                         "OUT/manifest.json (tag, file, sha256, repository, revision).")
    q.add_argument("tags", nargs="+", help="e.g. timm:convnext_tiny.fb_in22k_ft_in1k smp:mit_b3.imagenet")
    q.add_argument("--out", required=True, help="folder to write (e.g. weights)")
    q.set_defaults(func=_cmd_weights_fetch)

    p = sub.add_parser("splits", help="write domain-generalisation split manifests and their report for an ingest cache",
                       description="Build the manifests of PROTOCOL for each seed (one JSON per fold) in --out and the "
                       "split report (CSV, LaTeX table, figure) in --out/report. Deterministic for a seed.")
    p.add_argument("cache", help="ingest cache folder")
    p.add_argument("--out", required=True, help="folder for the manifests; the report goes to OUT/report")
    p.add_argument("--protocol", choices=["locontent", "lomaterial", "random"], default="locontent",
                   help="split protocol (default: locontent)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="split seeds (default: 0 1 2)")
    p.add_argument("--fractions", type=float, nargs=3, default=[0.7, 0.15, 0.15], metavar=("TRAIN", "VAL", "ID_TEST"),
                   help="in-domain fractions (default: 0.7 0.15 0.15)")
    p.add_argument("--min-items", type=int, default=30, help="flag partitions with fewer items (default: 30)")
    p.set_defaults(func=_cmd_splits)


def _add_run_commands(sub: argparse._SubParsersAction) -> None:
    """``metrics``, ``train``, ``evaluate``, ``dg``, ``film``."""
    p = sub.add_parser("metrics", help="evaluation-count utilities (summarise)")
    m_sub = p.add_subparsers(dest="metrics_command", metavar="METRICS_COMMAND", required=True)
    q = m_sub.add_parser("summarise", help="per-head scores and a bootstrap CI of mIoU from an eval/<partition>.npz",
                         description="Read PATH (written by an evaluation), reduce each head's per-image counts "
                         "(IoU = sum I / sum U over images; absent classes left out of mIoU) and print mIoU with an "
                         "image-level bootstrap CI, mAcc, mDice, aAcc, in percent.")
    q.add_argument("path", help="eval/<partition>.npz file")
    _add_resampling(q)
    q.add_argument("--ci", type=float, default=0.95, help="confidence level (default: 0.95)")
    q.add_argument("--method", choices=("percentile", "bca"), default="percentile", help="interval (default: percentile)")
    q.add_argument("--csv", help="also write the table (fractions) to this CSV file")
    q.set_defaults(func=_cmd_metrics_summarise)

    p = sub.add_parser("train", help="train one run (all stages of a variant) from a YAML config (notebook 02)",
                       description="Train, resume or (when finished) skip the run described by a YAML file of "
                       "TrainConfig fields. Exit 75 after a preemption (checkpoint saved; re-run to resume). "
                       "Multi-GPU: torchrun --nproc_per_node=N -m heritage_core.train --config run.yaml")
    p.add_argument("--config", required=True, help="YAML file of TrainConfig fields (unknown keys are errors)")
    p.add_argument("--force", action="store_true",
                   help="retrain a finished run, or overwrite a run dir made with other parameters")
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("evaluate", help="score a finished run and write RUN_DIR/eval/ (notebook 03)",
                       description="Predict val/id_test/ood_test as the run's validation did (sliding windows at the "
                       "cache's scale, the run's tile, overlap and precision), write per-image counts, metrics.json "
                       "(bootstrap CIs, all-Clean floors) and eval.json. Only finished runs; eval/ is replaced "
                       "atomically.")
    p.add_argument("run_dir", help="finished run directory")
    p.add_argument("--partitions", nargs="+", default=["val", "id_test", "ood_test"], help="partitions to score")
    p.add_argument("--score-cache", default=None,
                   help="cache of the same source at a larger long side whose masks are scored (default: the run's)")
    p.add_argument("--consistent", action="store_true", help="also score hierarchy-consistent (path-sum) predictions")
    p.add_argument("--device", default="cpu", help="torch device (default: cpu)")
    _add_resampling(p)
    p.add_argument("--smoke", action="store_true", help="few images and resamples, for a quick check")
    p.set_defaults(func=_cmd_evaluate)

    p = sub.add_parser("dg", help="tidy results table, DG gaps and paired variant comparisons (notebook 04)",
                       description="Collect every evaluated run into results.csv/.parquet, compute ID - OOD gaps "
                       "with bootstrap CIs and paired variant comparisons (Holm-corrected), under --output-dir.")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--suite-dir", help="suite folder (suites/<name>)")
    g.add_argument("--run-dirs", nargs="+", help="evaluated run directories")
    p.add_argument("--output-dir", required=True, help="folder for the tables")
    _add_resampling(p)
    p.add_argument("--permutations", type=int, default=N_PERMUTATIONS,
                   help=f"permutations of the paired test (default: {N_PERMUTATIONS})")
    p.add_argument("--heads", nargs="+", default=["fine"], help="heads compared (default: fine)")
    p.add_argument("--smoke", action="store_true", help="few resamples, for a quick check")
    p.set_defaults(func=_cmd_dg)

    p = sub.add_parser("film", help="leave-one-scan-out on the real film scans (notebook 06)",
                       description="Train on three real film scans, predict the fourth with sliding windows, and "
                       "report damage IoU/F1/precision/recall per scan with tile-bootstrap CIs.")
    p.add_argument("--film-dir", default=FILM_DIR, help=f"folder of the real film scans (default: {FILM_DIR})")
    p.add_argument("--out", required=True, help="output folder")
    for flag, kind, what in (("encoder", str, "encoder"), ("crop_px", int, "training crop side in px"),
                             ("epochs", int, "epochs per fold"), ("crops_per_epoch", int, "random crops per epoch"),
                             ("batch_size", int, "crops per step"), ("lr", float, "peak learning rate"),
                             ("tile_px", int, "sliding-window tile in px"), ("n_resamples", int, "bootstrap resamples"),
                             ("seed", int, "seed"), ("device", str, "torch device")):
        default = getattr(FilmParams, flag)
        name = "--resamples" if flag == "n_resamples" else "--" + flag.replace("_", "-")
        p.add_argument(name, dest=flag, type=kind, default=default, help=f"{what} (default: {default})")
    p.add_argument("--held-out", nargs="*", default=[], help="scan ids to hold out (default: each in turn)")
    p.add_argument("--smoke", action="store_true", help="tiny budget, for a quick check")
    p.set_defaults(func=_cmd_film)


def _add_result_commands(sub: argparse._SubParsersAction) -> None:
    """``report``, ``paper``, ``suite``."""
    p = sub.add_parser("report", help="paper figures, tables and numbers of a finished suite (notebook 05, no Jupyter)",
                       description="Write numbers.tex, tables/*.tex and figures/*.{pdf,png} (with provenance JSON) "
                       "for a finished suite into OUTPUT_DIR/<suite>/. Never retrains or re-predicts.")
    p.add_argument("suite_dir", help="finished suite folder (suites/<name>)")
    p.add_argument("--results-dir", default="", help="tidy results folder (default: SUITE_DIR/results)")
    p.add_argument("--output-dir", default="paper/generated", help="root of the generated paper inputs")
    p.add_argument("--figures-dir", default="", help="where PNG copies go (default: SUITE_DIR/figures)")
    p.add_argument("--head", default="fine", help="head reported in tables and figures (default: fine)")
    p.add_argument("--encoder", default="", help="encoder shown outside the main table (default: the first)")
    p.add_argument("--smoke", action="store_true", help="few resamples, for a quick look")
    p.set_defaults(func=_cmd_report)

    p = sub.add_parser("paper", help="build paper/build/SUITE.pdf from paper/main.tex and paper/generated/SUITE/",
                       description="Run latexmk (pdflatex + bibtex) on paper/main.tex for SUITE; aux files in "
                       "paper/build/SUITE/. Installs Debian's TeX Live when missing and run as root with apt-get.")
    p.add_argument("suite", help="suite name (folder of paper/generated/)")
    p.add_argument("--paper-dir", default="paper", help="folder with main.tex (default: paper)")
    p.add_argument("--no-install", action="store_true", help="never install TeX Live; fail instead")
    p.set_defaults(func=_cmd_paper)

    p = sub.add_parser("suite", add_help=False, help="run a whole profile (run | submit | status); "
                       "'heritage suite --help' for its commands",
                       description="The suite runner: see 'heritage suite --help'.")
    p.add_argument("suite_args", nargs=argparse.REMAINDER, help="arguments of the suite runner")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``heritage`` console script."""
    quiet_environment()
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["suite"]:  # the suite runner owns its parser (argparse.REMAINDER cannot pass on --help)
        from heritage_core.suite.runner import main as suite_main

        return suite_main(argv[1:])
    args = build_parser().parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except HeritageError as exc:
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

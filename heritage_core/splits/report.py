"""What the split manifests hold: items, groups and class pixels per partition, warnings, table and figure.

The report is built from the manifests, the cache index and one per-item class histogram of each mask
(:class:`ClassHistograms`, computed once with ``np.bincount(minlength=256)`` and cached in a ``.npz``).

Counting rules:

* Heads ``fine`` and ``coarse`` count fine-level items only; head ``binary`` counts every item (fine-level
  masks mapped with ``default_taxonomy().map_labels``, binary-level masks as they are).
* ``255`` is ignore: reported in its own row (``kind == "ignore"``), never as a class. A class's
  ``pixel_share`` is its share of the partition's labelled (non-ignore) pixels at that head; the ignore
  row's ``pixel_share`` is the ignore share of all pixels counted at that head.
* ``images`` is the number of items with at least one pixel of the class.

Warnings (rows of :attr:`SplitReport.warnings`, also issued as :class:`~heritage_core.splits.protocols.SplitWarning`):

* ``small_partition``: a partition that should hold items (train; val and id_test when their fraction is
  > 0; ood_test for leave-one-out) has fewer than ``min_items`` items.
* ``class_absent_from_train``: a class has pixels in id_test or ood_test but none in train.
* ``excluded_items``: items left out of a fold because their group touches the held-out domain.
"""
from __future__ import annotations

import io
import textwrap
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from heritage_core.errors import ConfigError, ManifestError
from heritage_core.report.aggregate import tex_escape
from heritage_core.runs import atomic_write_bytes, atomic_write_text, save_figure
from heritage_core.splits.protocols import (
    CONTENTS,
    DEFAULT_FRACTIONS,
    ID_PARTITIONS,
    MATERIALS,
    PARTITIONS,
    Manifest,
    SplitWarning,
    check_index,
    make_splits_for_seeds,
    validate_manifest,
    write_manifests,
)
from heritage_core.taxonomy import HEADS, IGNORE_INDEX, Taxonomy, default_taxonomy

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from heritage_core.data.cache import Cache

__all__ = [
    "ClassHistograms",
    "SplitReport",
    "compute_class_histograms",
    "load_or_compute_histograms",
    "build_report",
    "domain_counts",
    "summary_table",
    "latex_table",
    "composition_figure",
    "write_report",
    "write_splits_and_report",
]

#: Paul Tol's "muted" qualitative scheme plus pale grey: ten colours distinguishable with colour-blindness.
PALETTE = ("#332288", "#88CCEE", "#44AA99", "#117733", "#999933", "#DDCC77", "#CC6677", "#882255", "#AA4499",
           "#DDDDDD")
_HATCHES = ("", "//", "..", "xx")
_LABELS = {"train": "train", "val": "val", "id_test": "ID test", "ood_test": "OOD test"}
_KEYS = ["protocol", "seed", "fold", "held_out"]
_CANONICAL = {"content": CONTENTS, "material": MATERIALS}


@dataclass(frozen=True)
class ClassHistograms:
    """Per-item label histograms of a cache's masks.

    Attributes:
        ids: item ids, row order of ``counts``.
        label_level: label level of each item (``fine`` or ``binary``), shape (N,).
        counts: pixel count of each mask value 0..255 per item, int64, shape (N, 256).
        fingerprint: fingerprint of the dataset the histograms were computed from.
    """

    ids: tuple[str, ...]
    label_level: np.ndarray
    counts: np.ndarray
    fingerprint: str

    def head_counts(self, head: str, taxonomy: Taxonomy | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Class and ignore pixel counts of every item at ``head``.

        Args:
            head: one of ``binary``, ``coarse``, ``fine``.
            taxonomy: label hierarchy (default: :func:`~heritage_core.taxonomy.default_taxonomy`).

        Returns:
            ``(classes, ignore, counted)``: int64 (N, C) pixels per class, int64 (N,) ignore pixels, and bool
            (N,) whether the item counts at this head (binary-level items count only on ``binary``).
        """
        taxonomy = taxonomy or default_taxonomy()
        mapped = np.zeros_like(self.counts)
        counted = np.zeros(len(self.ids), dtype=bool)
        for level in ("fine", "binary"):
            rows = self.label_level == level
            if level == "binary" and head != "binary":
                continue
            onehot = np.zeros((256, 256), dtype=np.int64)
            onehot[np.arange(256), taxonomy.lut(level, head)] = 1
            mapped[rows] = self.counts[rows] @ onehot
            counted |= rows
        return mapped[:, : taxonomy.num_classes[head]], mapped[:, IGNORE_INDEX], counted


def compute_class_histograms(cache: Cache) -> ClassHistograms:
    """Histogram of every mask of ``cache`` (values 0..255), one ``np.bincount`` per item."""
    counts = np.zeros((len(cache), 256), dtype=np.int64)
    for row, item_id in enumerate(cache.ids):
        counts[row] = np.bincount(np.asarray(cache.load_mask(item_id, mmap=True)).ravel(), minlength=256)
    return ClassHistograms(
        ids=tuple(cache.ids), label_level=cache.index["label_level"].to_numpy(dtype=str), counts=counts,
        fingerprint=cache.fingerprint,
    )


def load_or_compute_histograms(cache: Cache, path: str | Path) -> ClassHistograms:
    """The histograms of ``cache``, read from ``path`` when it holds them for this dataset, else computed and saved.

    Args:
        cache: the ingest cache.
        path: ``.npz`` file holding ``ids``, ``label_level``, ``counts`` and ``fingerprint``; rewritten
            (atomically) when missing or built from another dataset.

    Returns:
        The :class:`ClassHistograms`.
    """
    path = Path(path)
    if path.is_file():
        with np.load(path) as data:
            if str(data["fingerprint"]) == cache.fingerprint and tuple(data["ids"]) == tuple(cache.ids):
                return ClassHistograms(tuple(str(i) for i in data["ids"]), data["label_level"].astype(str),
                                       data["counts"].astype(np.int64), cache.fingerprint)
    hist = compute_class_histograms(cache)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, ids=np.array(hist.ids), label_level=hist.label_level, counts=hist.counts,
                        fingerprint=np.array(hist.fingerprint))
    atomic_write_bytes(path, buffer.getvalue())
    return hist


def domain_counts(index: pd.DataFrame) -> pd.DataFrame:
    """Items per material (rows) and content (columns) of a cache index, with ``total`` row and column.

    Domains come in ARTeFACT order (:data:`~heritage_core.splits.protocols.MATERIALS`, :data:`~heritage_core.splits.protocols.CONTENTS`),
    others after them alphabetically.
    """
    items = check_index(index)
    table = pd.crosstab(items["material"], items["content"])
    order = {c: [d for d in _CANONICAL[c] if d in set(items[c])] + sorted(set(items[c]) - set(_CANONICAL[c]))
             for c in ("material", "content")}
    table = table.reindex(index=order["material"], columns=order["content"], fill_value=0)
    table.loc["total"] = table.sum(axis=0)
    table["total"] = table.sum(axis=1)
    return table.rename_axis(index="material", columns="content")


@dataclass(frozen=True)
class SplitReport:
    """Tidy tables describing a set of manifests.

    Attributes:
        composition: one row per (manifest, partition, ``by``, domain): columns protocol, seed, fold,
            held_out, partition, by (``content``, ``material`` or ``all``), domain, items, groups.
        classes: one row per (manifest, partition, head, class) plus one ``ignore`` row per (manifest,
            partition, head): columns protocol, seed, fold, held_out, partition, head, kind (``class`` or
            ``ignore``), class_id, class_name, pixels, pixel_share, images, items.
        warnings: columns protocol, seed, fold, partition, head, kind, message.
        min_items: the small-partition threshold used.
    """

    composition: pd.DataFrame
    classes: pd.DataFrame
    warnings: pd.DataFrame
    min_items: int


def _composition_rows(m: Manifest, items: pd.DataFrame) -> list[dict]:
    rows = []
    key = {"protocol": m.protocol, "seed": m.seed, "fold": m.fold, "held_out": m.held_out}
    for part in PARTITIONS:
        sub = items.loc[m.partitions[part]]
        rows.append(key | {"partition": part, "by": "all", "domain": "all", "items": len(sub),
                           "groups": sub["group"].nunique()})
        for by in ("content", "material"):
            stats = sub.groupby(by)["group"].agg(["size", "nunique"])
            for domain in sorted(items[by].unique()):
                n, g = (stats.loc[domain, "size"], stats.loc[domain, "nunique"]) if domain in stats.index else (0, 0)
                rows.append(key | {"partition": part, "by": by, "domain": domain, "items": int(n), "groups": int(g)})
    return rows


def _class_rows(m: Manifest, position: pd.Series, per_head: dict, taxonomy: Taxonomy) -> list[dict]:
    rows = []
    key = {"protocol": m.protocol, "seed": m.seed, "fold": m.fold, "held_out": m.held_out}
    for head in HEADS:
        classes, ignore, counted = per_head[head]
        names = taxonomy.names(head)
        for part in PARTITIONS:
            sel = position.loc[m.partitions[part]].to_numpy()
            sel = sel[counted[sel]]
            pixels, images = classes[sel].sum(axis=0), (classes[sel] > 0).sum(axis=0)
            labelled, ignored = int(pixels.sum()), int(ignore[sel].sum())
            base = key | {"partition": part, "head": head, "items": len(sel)}
            for c, name in enumerate(names):
                rows.append(base | {"kind": "class", "class_id": c, "class_name": name, "pixels": int(pixels[c]),
                                    "pixel_share": pixels[c] / labelled if labelled else np.nan,
                                    "images": int(images[c])})
            total = labelled + ignored
            rows.append(base | {"kind": "ignore", "class_id": IGNORE_INDEX, "class_name": "ignore",
                                "pixels": ignored, "pixel_share": ignored / total if total else np.nan,
                                "images": int((ignore[sel] > 0).sum())})
    return rows


def _warning_rows(m: Manifest, classes: pd.DataFrame, min_items: int) -> list[dict]:
    rows = []
    key = {"protocol": m.protocol, "seed": m.seed, "fold": m.fold}
    where = f"protocol '{m.protocol}' seed {m.seed} fold '{m.fold}'"
    expected = ["train"] + [p for p in ID_PARTITIONS[1:] if m.fractions[p] > 0]
    expected += ["ood_test"] if m.held_out is not None else []
    for part in expected:
        n = len(m.partitions[part])
        if n < min_items:
            rows.append(key | {"partition": part, "head": "", "kind": "small_partition",
                               "message": f"{where}: partition '{part}' has {n} items, fewer than min_items="
                                          f"{min_items}; its scores will have wide confidence intervals"})
    mine = classes[(classes["kind"] == "class") & (classes["fold"] == m.fold) & (classes["seed"] == m.seed)
                   & (classes["protocol"] == m.protocol)]
    for head in HEADS:
        table = mine[mine["head"] == head].pivot(index="class_name", columns="partition", values="images")
        absent = table[(table["train"] == 0) & ((table["id_test"] > 0) | (table["ood_test"] > 0))]
        if len(absent):
            listed = ", ".join(f"{name} (id_test {r.id_test}, ood_test {r.ood_test} images)"
                               for name, r in absent.iterrows())
            rows.append(key | {"partition": "train", "head": head, "kind": "class_absent_from_train",
                               "message": f"{where}: {head} classes present in a test partition have no pixel in "
                                          f"train: {listed}"})
    if m.excluded:
        rows.append(key | {"partition": "", "head": "", "kind": "excluded_items",
                           "message": f"{where}: {len(m.excluded)} items left out because their group touches "
                                      f"the held-out domain {m.held_out!r}"})
    return rows


def build_report(
    manifests: Sequence[Manifest],
    index: pd.DataFrame,
    histograms: ClassHistograms,
    min_items: int = 30,
    taxonomy: Taxonomy | None = None,
) -> SplitReport:
    """Tabulate the composition, class statistics and warnings of ``manifests``.

    Args:
        manifests: manifests of one dataset (any protocols, seeds and folds).
        index: the dataset's cache index (columns ``id``, ``group``, ``content``, ``material``).
        histograms: per-item class histograms of the same dataset.
        min_items: partitions with fewer items get a ``small_partition`` warning.
        taxonomy: label hierarchy (default: the ARTeFACT one).

    Returns:
        The :class:`SplitReport`.

    Raises:
        ManifestError: a manifest does not match ``index`` or the histograms' dataset.
        ConfigError: ``manifests`` is empty or ``min_items`` is negative.

    Warns:
        SplitWarning: one per row of :attr:`SplitReport.warnings`.
    """
    if not manifests:
        raise ConfigError("build_report got no manifests; pass the list make_splits returned")
    if isinstance(min_items, bool) or not isinstance(min_items, int) or min_items < 0:
        raise ConfigError(f"min_items is {min_items!r}; it must be an integer >= 0 (default 30)")
    taxonomy = taxonomy or default_taxonomy()
    items = check_index(index)
    position = pd.Series(np.arange(len(histograms.ids)), index=list(histograms.ids))
    missing = sorted(set(items.index) - set(position.index))
    if missing:
        raise ManifestError(f"the class histograms lack {len(missing)} dataset items (e.g. {missing[:5]}); they were "
                            f"computed from another dataset. Delete the histogram file and re-run")
    per_head = {head: histograms.head_counts(head, taxonomy) for head in HEADS}
    comp, cls = [], []
    for m in manifests:
        validate_manifest(m, items, fingerprint=histograms.fingerprint)
        comp += _composition_rows(m, items)
        cls += _class_rows(m, position, per_head, taxonomy)
    classes = pd.DataFrame(cls, columns=[*_KEYS, "partition", "head", "kind", "class_id", "class_name", "pixels",
                                         "pixel_share", "images", "items"])
    rows = [w for m in manifests for w in _warning_rows(m, classes, min_items)]
    for w in rows:
        warnings.warn(w["message"], SplitWarning, stacklevel=2)
    return SplitReport(
        composition=pd.DataFrame(comp, columns=[*_KEYS, "partition", "by", "domain", "items", "groups"]),
        classes=classes,
        warnings=pd.DataFrame(rows, columns=["protocol", "seed", "fold", "partition", "head", "kind", "message"]),
        min_items=min_items,
    )


# ------------------------------------------------------------------------------------ table, figure
def _pick_seed(report: SplitReport, seed: int | None) -> int:
    seeds = sorted(report.composition["seed"].unique())
    if seed is None:
        return int(seeds[0])
    if seed not in seeds:
        raise ConfigError(f"seed {seed!r} is not in the report; it has seeds {[int(s) for s in seeds]}")
    return seed


def summary_table(report: SplitReport, seed: int | None = None) -> pd.DataFrame:
    """One row per fold of one split seed: items and groups per partition, excluded items, absent classes.

    Args:
        report: the split report.
        seed: split seed to show (default: the smallest in the report).

    Returns:
        Columns protocol, fold, held_out, ``<partition>`` and ``<partition>_groups`` for each partition,
        ``absent_fine`` (fine classes with pixels in id_test or ood_test but none in train) and ``warnings``.
    """
    seed = _pick_seed(report, seed)
    comp = report.composition[(report.composition["seed"] == seed) & (report.composition["by"] == "all")]
    rows = []
    for (protocol, fold), block in comp.groupby(["protocol", "fold"], sort=False):
        block = block.set_index("partition")
        row = {"protocol": protocol, "fold": fold, "held_out": block["held_out"].iloc[0]}
        for part in PARTITIONS:
            row[part], row[f"{part}_groups"] = int(block.at[part, "items"]), int(block.at[part, "groups"])
        fine = report.classes[(report.classes["seed"] == seed) & (report.classes["protocol"] == protocol)
                              & (report.classes["fold"] == fold) & (report.classes["head"] == "fine")
                              & (report.classes["kind"] == "class")]
        images = fine.pivot(index="class_id", columns="partition", values="images")
        row["absent_fine"] = int(((images["train"] == 0) & ((images["id_test"] > 0) | (images["ood_test"] > 0))).sum())
        w = report.warnings
        row["warnings"] = int(((w["seed"] == seed) & (w["protocol"] == protocol) & (w["fold"] == fold)).sum())
        rows.append(row)
    return pd.DataFrame(rows)


def latex_table(report: SplitReport, seed: int | None = None) -> str:
    """A booktabs LaTeX table of :func:`summary_table` (the caller writes it to a file).

    Cells give images per partition, with groups in parentheses where there are fewer groups than images;
    ``$^\\dagger$`` marks a partition with fewer than ``report.min_items`` images.

    Args:
        report: the split report.
        seed: split seed to show (default: the smallest in the report).

    Returns:
        The ``table`` environment as a string, ending in a newline.
    """
    seed = _pick_seed(report, seed)
    table = summary_table(report, seed)
    protocols = list(dict.fromkeys(table["protocol"]))
    lines = [
        r"\begin{table}[t]", r"\centering", r"\small",
        r"\caption{Split composition, protocol" + ("s " if len(protocols) > 1 else " ")
        + ", ".join(rf"\texttt{{{tex_escape(p)}}}" for p in protocols) + f", split seed {seed}: images per partition "
        r"(source groups in parentheses where fewer than images; a group never spans two partitions). "
        rf"$^\dagger$: fewer than {report.min_items} images. Absent: fine damage classes with pixels in "
        r"ID or OOD test but none in train.}",
        rf"\label{{tab:splits-{'-'.join(protocols)}}}",
        r"\begin{tabular}{l" + "r" * (len(PARTITIONS) + 1) + "}", r"\toprule",
        "Held out & " + " & ".join(_LABELS[p] for p in PARTITIONS) + r" & Absent \\", r"\midrule",
    ]
    for _, row in table.iterrows():
        held = tex_escape(row["held_out"]) if isinstance(row["held_out"], str) else "none (random)"
        label = f"{tex_escape(row['protocol'])}: {held}" if len(protocols) > 1 else held
        cells = []
        for part in PARTITIONS:
            n, g = row[part], row[f"{part}_groups"]
            if part == "ood_test" and not isinstance(row["held_out"], str):
                cells.append("--")
                continue
            cell = f"{n}" + (f" ({g})" if g < n else "")
            cells.append(cell + (r"$^\dagger$" if n < report.min_items else ""))
        lines.append(f"{label} & " + " & ".join(cells) + f" & {row['absent_fine']}" + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}"]
    return "\n".join(lines) + "\n"


def composition_figure(
    report: SplitReport, seed: int | None = None, by: Sequence[str] = ("content", "material")
) -> Figure:
    """Stacked bars of each partition's items by domain, one cluster of bars per fold, one panel per ``by``.

    Bars show absolute item counts with the total above each bar, so small held-out domains stay visible.

    Args:
        report: the split report.
        seed: split seed to show (default: the smallest in the report).
        by: domain columns, one panel each (``content`` and/or ``material``).

    Returns:
        The matplotlib figure (the caller saves or shows it; :func:`write_report` saves PDF and PNG).
    """
    import matplotlib.pyplot as plt
    from matplotlib.transforms import blended_transform_factory

    seed = _pick_seed(report, seed)
    comp = report.composition[report.composition["seed"] == seed]
    folds = list(dict.fromkeys(zip(comp["protocol"], comp["fold"])))
    held_out = dict(zip(zip(comp["protocol"], comp["fold"]), comp["held_out"]))
    parts = [p for p in PARTITIONS if comp.loc[comp["partition"] == p, "items"].sum() > 0]
    width = max(6.0, 0.32 * len(folds) * len(parts) + 2.5)
    fig, axes = plt.subplots(len(by), 1, figsize=(width, 3.4 * len(by)), squeeze=False, layout="constrained")
    for ax, column in zip(axes[:, 0], by):
        sub = comp[comp["by"] == column]
        present = set(sub["domain"])
        domains = [d for d in _CANONICAL[column] if d in present] + sorted(present - set(_CANONICAL[column]))
        ticks, labels = [], []
        for f, (protocol, fold) in enumerate(folds):
            for p, part in enumerate(parts):
                x = f * (len(parts) + 1) + p
                cell = sub[(sub["protocol"] == protocol) & (sub["fold"] == fold) & (sub["partition"] == part)]
                counts = cell.set_index("domain")["items"].reindex(domains, fill_value=0)
                bottom = 0
                for d, domain in enumerate(domains):
                    ax.bar(x, counts[domain], bottom=bottom, width=0.85, color=PALETTE[d % len(PALETTE)],
                           hatch=_HATCHES[(d // len(PALETTE)) % len(_HATCHES)], edgecolor="white", linewidth=0.4,
                           label=domain if (f, p) == (0, 0) else None)
                    bottom += counts[domain]
                ax.annotate(f"{bottom}", (x, bottom), ha="center", va="bottom", fontsize=7, xytext=(0, 1),
                            textcoords="offset points")
                ticks.append(x)
                labels.append(_LABELS[part])
            held = held_out[(protocol, fold)]
            centre = f * (len(parts) + 1) + (len(parts) - 1) / 2
            ax.text(centre, -0.30, textwrap.fill(held if isinstance(held, str) else "all (random)", 14),
                    transform=blended_transform_factory(ax.transData, ax.transAxes), ha="center", va="top",
                    fontsize=8, fontweight="bold")
        ax.set_xticks(ticks, labels, rotation=90, fontsize=8)
        ax.set_ylabel("images")
        protocols = ", ".join(dict.fromkeys(p for p, _ in folds))
        ax.set_title(f"{protocols}: partition composition by {column}, one cluster per fold (held-out domain) "
                     f"(split seed {seed})", fontsize=10)
        ax.margins(y=0.12)
        ax.spines[["top", "right"]].set_visible(False)
        handles, names = ax.get_legend_handles_labels()
        ax.legend(handles[::-1], names[::-1], title=column, fontsize=8, title_fontsize=8, frameon=False,
                  loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return fig


def write_report(
    report: SplitReport, out_dir: str | Path, seed: int | None = None, stem: str | None = None
) -> dict[str, Path]:
    """Write the report's tables, LaTeX table and figure atomically under ``out_dir``.

    Files (``stem`` defaults to the report's protocols joined by ``_``): ``{stem}_composition.csv``,
    ``{stem}_classes.csv``, ``{stem}_warnings.csv``, ``{stem}_summary.csv``, ``{stem}_table.tex``,
    ``{stem}_composition.pdf`` and ``.png``.

    Args:
        report: the split report.
        out_dir: folder to write into (created if missing).
        seed: split seed of the summary, table and figure (default: the smallest in the report).
        stem: file name prefix.

    Returns:
        Paths by kind: ``composition``, ``classes``, ``warnings``, ``summary``, ``table``, ``figure_pdf``,
        ``figure_png``.
    """
    import matplotlib.pyplot as plt

    out_dir = Path(out_dir)
    stem = stem or "_".join(dict.fromkeys(report.composition["protocol"]))
    paths = {kind: out_dir / f"{stem}_{kind}.csv" for kind in ("composition", "classes", "warnings", "summary")}
    frames = {"composition": report.composition, "classes": report.classes, "warnings": report.warnings,
              "summary": summary_table(report, seed)}
    for kind, frame in frames.items():
        atomic_write_text(paths[kind], frame.to_csv(index=False))
    paths["table"] = atomic_write_text(out_dir / f"{stem}_table.tex", latex_table(report, seed))
    fig = composition_figure(report, seed)
    try:
        paths.update({f"figure_{fmt}": path for fmt, path in save_figure(fig, out_dir / f"{stem}_composition").items()})
    finally:
        plt.close(fig)
    return paths


def write_splits_and_report(
    cache_dir: str | Path,
    output_dir: str | Path,
    protocol: str,
    seeds: Sequence[int],
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    min_items: int = 30,
) -> dict[str, Path | list[Path]]:
    """What notebook ``01_splits`` writes, in one call (used by ``heritage splits``).

    Args:
        cache_dir: the ingest cache to split.
        output_dir: manifests go here, the report (and ``class_histograms.npz``) to ``output_dir/report``.
        protocol: one of :data:`~heritage_core.splits.protocols.PROTOCOLS`.
        seeds: distinct split seeds.
        fractions: train, val, id_test shares of the in-domain items.
        min_items: small-partition threshold of the report.

    Returns:
        ``manifests`` (the written manifest paths) and the paths of :func:`write_report`.
    """
    from heritage_core.data.cache import open_cache

    cache, report_dir = open_cache(cache_dir), Path(output_dir) / "report"
    manifests = make_splits_for_seeds(cache.index, protocol, seeds, fractions, fingerprint=cache.fingerprint)
    paths = write_manifests(manifests, output_dir)
    histograms = load_or_compute_histograms(cache, report_dir / "class_histograms.npz")
    report = build_report(manifests, cache.index, histograms, min_items=min_items)
    return {"manifests": paths, **write_report(report, report_dir)}

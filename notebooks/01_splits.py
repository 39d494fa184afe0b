# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 01 · Domain-generalisation splits
#
# Builds the split manifests of one protocol, for one or more split seeds, from an ingest cache, and reports
# what every fold holds.
#
# * `locontent` holds out one content type per fold, `lomaterial` one material per fold; the held-out domain is
#   the whole `ood_test`. `random` is the in-domain baseline (one fold, `all`, with an empty `ood_test`).
# * The remaining items go to `train` / `val` / `id_test` by source group (the index column `group`), so no group
#   is in two partitions, stratified at group level by content (by material for `lomaterial`).
# * The rules (groups that span domains, stratification, fold names) are in the docstring of
#   `heritage_core.splits.protocols`; the counting rules of the report in `heritage_core.splits.report`.
#
# Outputs, all under `output_dir`: one manifest per fold and seed, `{protocol}_seed{seed}_{fold}.json`; under
# `output_dir/report`: the tidy CSV tables (every seed), the LaTeX table and the composition figure (first seed),
# and the cached per-item class histograms.
#
# **Runs as opened**: the parameters are the demo suite's (`parameters/demo.yaml`), so the notebook builds what
# `make demo` builds first: 240 synthetic items, their cache at 128 px and the `locontent` manifests, all under
# `suites/demo`.

# %% tags=["parameters"]
cache_dir = "suites/demo/cache"  # ingest cache to split; built from source_dir when it does not exist
source_dir = "suites/demo/data"  # dataset source ingested when cache_dir is missing; empty string: none
synthetic_n = 240  # synthetic items written to source_dir first when it has no parquet shards; 0: never
synthetic_seed = 0  # seed of the synthetic dataset
synthetic_min_mark_px = 3  # smallest width of thin synthetic marks and specks, px (1: ARTeFACT-like)
max_side_px = 128  # long side in px of the cached items when the cache is built here: the scale of every run
score_cache_dir = ""  # a second cache of the source at score_max_side_px whose masks are scored; "": none
score_max_side_px = 0  # long side of the score cache, px (larger than max_side_px); 0: none
protocol = "locontent"  # split protocol: locontent, lomaterial or random
seeds = [0]  # split seeds, one manifest per fold and seed
fractions = [0.7, 0.15, 0.15]  # shares of the in-domain items for train, val, id_test (in [0, 1], sum 1)
min_items = 5  # partitions with fewer items are flagged in the report (SplitWarning)
output_dir = "suites/demo/splits"  # manifests are written here, the report to output_dir/report
smoke = False  # True: first split seed only, for a quick check

# %%
from IPython.display import Image

from heritage_core.data.prepare import prepare_dataset
from heritage_core.splits import protocols as splits
from heritage_core.splits import report as split_report
from heritage_core.splits.params import check_split_params

params = check_split_params(
    cache_dir=cache_dir, source_dir=source_dir, synthetic_n=synthetic_n, synthetic_seed=synthetic_seed,
    max_side_px=max_side_px, protocol=protocol, seeds=seeds, fractions=fractions, min_items=min_items,
    output_dir=output_dir, smoke=smoke, synthetic_min_mark_px=synthetic_min_mark_px,
    score_cache_dir=score_cache_dir, score_max_side_px=score_max_side_px,
)
params

# %% [markdown]
# ## Dataset
# Items per material and content. Small cells stay small in every split: the report below shows where.

# %%
cache = prepare_dataset(
    params.cache_dir, params.source_dir, params.synthetic_n, params.synthetic_seed, params.max_side_px,
    params.synthetic_min_mark_px,
)
if params.score_cache_dir is not None:
    prepare_dataset(params.score_cache_dir, params.source_dir, 0, 0, params.score_max_side_px)
split_report.domain_counts(cache.index)

# %% [markdown]
# ## Manifests

# %%
manifests = splits.make_splits_for_seeds(
    cache.index, params.protocol, params.seeds, params.fractions, fingerprint=cache.fingerprint
)

# %%
manifest_paths = splits.write_manifests(manifests, params.output_dir)
[path.name for path in manifest_paths]

# %% [markdown]
# ## Report
# Images per partition for the first split seed (groups in parentheses where there are fewer groups than images);
# `absent_fine` counts fine classes with pixels in a test partition but none in train.

# %%
histograms = split_report.load_or_compute_histograms(cache, params.report_dir / "class_histograms.npz")

# %%
report = split_report.build_report(manifests, cache.index, histograms, min_items=params.min_items)
split_report.summary_table(report)

# %% [markdown]
# Warnings: partitions below `min_items`, classes in a test partition but not in train, items left out of a fold.

# %%
report.warnings[["seed", "fold", "partition", "head", "kind", "message"]]

# %%
report_paths = split_report.write_report(report, params.report_dir)
{kind: str(path) for kind, path in report_paths.items()}

# %%
print(report_paths["table"].read_text())

# %%
Image(filename=report_paths["figure_png"], width=900)

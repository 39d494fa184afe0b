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
# # 04 · Results table, domain-generalisation gap and variant comparisons
#
# Collects every evaluated run (`eval/` written by 03) into one tidy table, the single source of every later table
# and figure, and writes it as `results.csv` and `results.parquet` under `output_dir`. Nothing is retrained or
# re-predicted here.
#
# * **DG gap.** Per run and scored head: gap = metric(`id_test`) − metric(`ood_test`), rows with partition `gap`.
#   Its 95 % interval resamples the two test sets independently. Per variant: the mean over folds within each
#   seed, then mean ± SE over seeds (SE with ddof=1; NaN with one seed). `random`-protocol runs have no gap.
# * **Paired comparisons.** Variants trained with the same fold, encoder and seed are compared on the same test
#   images: ΔmIoU = mIoU(b) − mIoU(a) with a paired bootstrap interval and a paired permutation p-value,
#   Holm-corrected across every comparison of the table (`comparisons.csv`).
# * **Inspector.** Per-class IoU bars with intervals and the best and worst images of a class. In a live Jupyter
#   front end it is interactive (ipywidgets); executed headless (papermill) it renders the same content statically.
#
# **Runs as opened after `make demo`**: the parameters default to the demo suite (`suites/demo`); the cell after
# them says what to run first when the suite is missing.

# %% tags=["parameters"]
suite_dir = "suites/demo"  # suite folder whose runs (runs/<fold>/<variant>/<encoder>/seed<k>) are collected; empty: use run_dirs
run_dirs = []  # evaluated run directories, used when suite_dir is ""
output_dir = "suites/demo/results"  # results.csv/.parquet, gaps.csv, summary.csv, comparisons.csv and figures go here
n_resamples = 1000  # bootstrap resamples (gap and comparison intervals); the paper uses 10000
n_permutations = 1000  # permutations of each paired test; the paper uses 10000
seed = 0  # seed of the bootstrap and the permutations
heads = ["fine"]  # scored heads compared between variants
static_widgets = None  # inspector mode: True static figure + table, False widgets, None detects the front end
smoke = False  # True: 200 resamples and permutations, for a quick check

# %%
from heritage_core.suite.plan import check_notebook_inputs

check_notebook_inputs("04_dg_gap", suite_dir=suite_dir)

# %%
import pandas as pd

from heritage_core.evaluation import analysis, dg
from heritage_core.report import widgets
from heritage_core.runs import quiet_environment

quiet_environment()
params = analysis.check_dg_params(
    suite_dir=suite_dir, run_dirs=run_dirs, output_dir=output_dir, n_resamples=n_resamples,
    n_permutations=n_permutations, seed=seed, heads=heads, static_widgets=static_widgets, smoke=smoke,
)
[str(path) for path in params.runs]

# %% [markdown]
# ## Every table, in one call
# `analysis.run_dg_analysis` is what `heritage dg` runs: the tidy results table, per-run gaps, the fold/seed
# summary, the paired comparisons and the headline tables, each written atomically under `output_dir`. The cells
# below only display them.

# %%
paths = analysis.run_dg_analysis(params)
{name: str(path) for name, path in paths.items()}

# %% [markdown]
# ## The tidy results table

# %%
results = pd.read_parquet(paths["results_parquet"])
results.head(20)

# %% [markdown]
# ## DG gap per run (mIoU)

# %%
pd.read_csv(paths["gaps"])

# %% [markdown]
# ## Per variant: mean over folds, then mean ± SE over seeds

# %%
pd.read_csv(paths["summary"])

# %% [markdown]
# ## Paired comparisons of the variants (Holm-corrected)

# %%
comparisons = pd.read_csv(paths["comparisons"])
comparisons

# %% [markdown]
# Across seeds: mean ± SE of ΔmIoU per fold, encoder and variant pair.

# %%
dg.summarise_comparisons(comparisons)

# %% [markdown]
# ## Headline numbers: every variant beside the all-Clean floor
# Over each fold's common class set (classes labelled in at least two images of both test sets), mean over
# folds then seeds, with hierarchical-bootstrap intervals (seeds, then images); an incomplete fold x seed grid
# has no value. Then the mean paired ΔmIoU of each pair of variants over (fold, seed) with a sign-flip test
# across training randomness, and the training budget of every variant.

# %%
headline = pd.read_csv(paths["headline"]).fillna({"fold": ""})
headline[headline["fold"] == ""]

# %%
pd.read_csv(paths["headline_comparisons"])

# %%
pd.read_csv(paths["budgets"])

# %% [markdown]
# ## Per-class IoU inspector

# %%
inspector = widgets.iou_inspector(params.runs, static=params.static_widgets, save_dir=params.output_dir / "inspector")

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
# # 05 · Paper figures, tables and numbers
#
# Turns a finished suite (runs trained by 02, evaluated by 03, collected by 04) into everything the paper
# `\input`s. Nothing is retrained or re-predicted: the tables and numbers come from the tidy results table
# (`results.parquet`) and the paired comparisons (`comparisons.csv`), the figures from the runs' `history.csv`,
# `eval/<partition>.npz` (summed confusion) and `eval/<partition>_pred.npz` (stored predictions), and the split
# figures from the runs' manifests and cache.
#
# * **Formatting rule.** Percent with one decimal; every interval is a 95 % interval written `[low, high]`;
#   undefined values (a class absent from labels and predictions) are `--` in tables and grey "n/a" cells in
#   figures; the absent-class rule is in every caption. Means are over folds within each seed, then over seeds;
#   each caption names the interval rule used (`heritage_core.report.aggregate`).
# * **Outputs**, all under `output_dir/<suite>/`: `numbers.tex` (`\newcommand`s such as `\CurriculumOODmIoU`),
#   `tables/*.tex` (+ `.csv`), `figures/*.pdf` (+ `.png`), each with a provenance sidecar `.json` (suite, run
#   ids, git commit, sources and their SHA-256). PNG copies of the figures go to `figures_dir`.
# * **The PDF.** With `output_dir = "paper/generated"`, `make paper SUITE=<suite>` builds `paper/build/<suite>.pdf`.
#
# **Runs as opened after `make demo`**: the parameters default to the demo suite (`suites/demo`); the cell after
# them says what to run first when the suite is missing.

# %% tags=["parameters"]
suite_dir = "suites/demo"  # finished suite folder (runs evaluated by 03, results collected by 04)
results_dir = ""  # folder with results.parquet (or .csv) and comparisons.csv; empty: suite_dir/results
output_dir = "paper/generated"  # root of the paper assets; files go to output_dir/<suite name>/
figures_dir = ""  # folder for PNG copies of the figures, for viewing; empty: suite_dir/figures
head = "fine"  # scored head of every table and figure
partition = "ood_test"  # test partition of the per-class table, heat map, confusion matrices and examples
variants = []  # variants to show, in order; empty: all present (flat, hierarchical, curriculum_only, curriculum)
folds = []  # folds (held-out domains) to show; empty: every fold with an OOD test set
encoder = ""  # encoder whose runs are reported; empty: the only one in the results table
example_fold = ""  # fold of the training curves and the qualitative grid; empty: the first fold
qualitative_ids = []  # item ids of the qualitative grid; empty: the images with the most labelled damage classes
n_qualitative = 3  # images in the qualitative grid when qualitative_ids is empty
compare = ["flat", "curriculum"]  # variants of the confusion matrices and the qualitative grid
n_resamples = 1000  # bootstrap resamples and permutations, used only when the suite has no comparisons.csv
smoke = False  # True: one example image, at most 200 resamples, smaller PNGs (quick check)

# %%
from heritage_core.suite.plan import check_notebook_inputs

check_notebook_inputs("05_paper_figures", suite_dir=suite_dir, results_dir=results_dir)

# %%
from IPython.display import Image

from heritage_core import report
from heritage_core.runs import quiet_environment

quiet_environment()
params = report.check_report_params(
    suite_dir=suite_dir, results_dir=results_dir, output_dir=output_dir, figures_dir=figures_dir, head=head,
    partition=partition, variants=variants, folds=folds, encoder=encoder, example_fold=example_fold,
    qualitative_ids=qualitative_ids, n_qualitative=n_qualitative, compare=compare, n_resamples=n_resamples,
    smoke=smoke,
)
params

# %% [markdown]
# ## The suite's evaluated runs

# %%
suite = report.load_suite(params)
suite.runs

# %% [markdown]
# ## Tables
# Main results (mean over folds and seeds), per fold, per class (with test support) and the ablation (paired
# ΔmIoU, Holm-corrected p-values). Each is a booktabs `table` float with its CSV twin.

# %%
tables = report.write_tables(suite)
print(tables["main_results"].read_text())

# %%
print(tables["ablation"].read_text())

# %% [markdown]
# ## Numbers for the text
# `numbers.tex` defines one macro per number the text uses; `--` marks a value the suite cannot provide.

# %%
numbers = report.write_numbers(suite)
print(numbers.read_text())

# %% [markdown]
# ## Figures
# Training curves of the example fold (stages separated, selected epochs circled).

# %%
Image(filename=str(report.write_figure(suite, "training_curves")["png"]), width=900)

# %% [markdown]
# DG gap (ID − OOD mIoU) per held-out domain with 95 % intervals.

# %%
Image(filename=str(report.write_figure(suite, "dg_gap")["png"]), width=450)

# %% [markdown]
# Per-class IoU, class × fold, one panel per variant; absent classes are grey "n/a" cells.

# %%
Image(filename=str(report.write_figure(suite, "class_iou_heatmap")["png"]), width=900)

# %% [markdown]
# ## Per-class DG gap (ID - OOD IoU) over each fold's common class set

# %%
Image(filename=str(report.write_figure(suite, "class_gap")["png"]), width=900)

# %% [markdown]
# Row-normalised confusion matrices of the compared variants, pooled over folds and seeds.

# %%
Image(filename=str(report.write_figure(suite, "confusion")["png"]), width=900)

# %% [markdown]
# Qualitative examples from the stored predictions: image, ground truth, compared variants.

# %%
Image(filename=str(report.write_figure(suite, "qualitative")["png"]), width=900)

# %% [markdown]
# Split composition and class distribution of the suite's manifests.

# %%
Image(filename=str(report.write_figure(suite, "split_composition")["png"]), width=900)

# %%
Image(filename=str(report.write_figure(suite, "class_distribution")["png"]), width=450)

# %% [markdown]
# ## What the paper build needs
# Every file `main.tex` inputs, and whether it exists (`assets.json` lists all generated files).

# %%
report.write_index(suite)

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
# # 03 · Evaluate one run
#
# Scores a finished run on `val`, `id_test` and `ood_test` at the cache's resolution (or at the larger resolution of a
# score cache) and writes
# `<run_dir>/eval/`: per-image counts per scored head (`<partition>.npz`), downsampled prediction masks for the
# inspector (`<partition>_pred.npz`), `metrics.json` and `eval.json`. The folder is rebuilt and swapped in whole, so
# a re-evaluation replaces it.
#
# * **Inference** is the run's own: sliding windows of its `tile` (default its training `img_size`) and `overlap`
#   over each cached image at the training scale, in the training precision (bf16 on CUDA, float32 on CPU), exactly
#   as validation selected the checkpoint. `eval.json` records tile, overlap, precision and the scored resolution.
#   With `score_cache` the logits are resized to that cache's larger masks; the model's input does not change.
# * **Scored heads.** `binary`, `coarse`, `fine` are the model's own heads (for a flat model coarse and binary are
#   derived from fine); `*_from_fine` are always derived from the fine argmax; `*_consistent` (with
#   `consistent = True`) take the best root-to-leaf path. Items labelled only at the binary level are scored on the
#   binary level only.
# * **Scores.** One definition (`heritage_core.evaluation.metrics.reduce_counts`): per-class IoU = ΣI / ΣU over the images of a
#   partition; mIoU is the mean over the classes with ΣU > 0. Intervals are 95 % image-level percentile bootstraps.
#   The violation rate counts scored pixels where the independent heads disagree with the hierarchy.
# * `ood_test` is empty for the `random` protocol: it is skipped and recorded as skipped.
#
# **Runs as opened after `make demo`**: the parameters default to the demo suite (`suites/demo`), here its
# curriculum run with Line art held out (re-evaluating it rewrites the same `eval/`); the cell after them says what
# to run first when the run is missing.

# %% tags=["parameters"]
run_dir = "suites/demo/runs/line_art/curriculum/test_resnet/seed0"  # finished run directory to evaluate (run.json with status finished); eval/ is written inside
partitions = ["val", "id_test", "ood_test"]  # partitions to evaluate; empty ones are skipped and recorded
score_cache = ""  # cache of the same source at a larger long side whose masks are scored; "": the run's cache
consistent = False  # also score the hierarchy-consistent (best-path) predictions of hierarchical models
device = "cpu"  # torch device: "cpu", "cuda" or "cuda:N"
n_resamples = 1000  # bootstrap resamples of every 95 % interval; the paper uses 10000
seed = 0  # bootstrap seed
show_heads = ["binary", "coarse", "fine"]  # scored heads whose per-class tables and confusion matrices are shown
figures_dir = ""  # folder for the figures and per-class CSVs; empty: <run_dir>/eval/figures
smoke = False  # True: first 4 images per partition and 100 resamples, for a quick check

# %%
from heritage_core.suite.plan import check_notebook_inputs

check_notebook_inputs("03_evaluate", run_dir=run_dir, score_cache=score_cache)

# %%
from heritage_core.evaluation import evaluate, store
from heritage_core.report import widgets
from heritage_core.runs import quiet_environment

quiet_environment()
params = evaluate.check_evaluate_params(
    run_dir=run_dir, partitions=partitions, score_cache=score_cache, consistent=consistent,
    device=device, n_resamples=n_resamples, seed=seed, show_heads=show_heads, figures_dir=figures_dir, smoke=smoke,
)
params

# %% [markdown]
# ## Evaluate

# %%
result = evaluate.evaluate_run(**params.run_kwargs())
{key: result["eval"][key] for key in ("tile", "overlap", "precision", "input_max_side_px", "score_max_side_px",
                                      "live_heads", "derived_from_fine", "checkpoint", "partitions", "duration_s")}

# %% [markdown]
# ## Summary
# Fractions in [0, 1]; `miou_ci_*` is the 95 % bootstrap interval; `violation_rate` is per partition (hierarchical
# models only).

# %%
store.summary_table(result["metrics"])

# %% [markdown]
# ## Per-class scores and confusion matrices
# For each evaluated partition and each head in `show_heads`: the per-class table (with the absent-class rule and
# each class's support in pixels and images) and the row-normalised confusion matrix (rows = label). Figures and
# tables are saved under `figures_dir`.

# %%
saved = widgets.show_evaluation(params.run_dir, heads=params.show_heads, save_dir=params.figures_dir)
sorted(saved)

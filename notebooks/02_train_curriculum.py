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
# # 02 · Train one run (flat, hierarchical, curriculum-only or curriculum)
#
# Trains every stage of a variant into `run_dir` with `heritage_core.train.train_run`:
#
# * **Variants** (`heritage_core/configs/variants.yaml`, stages as data). `flat`: FlatUPerNet, fine loss, one stage
#   (baseline). `hierarchical`: three heads, all in the loss, one stage. `curriculum_only`: binary → coarse → fine
#   with the fine loss alone in the last stage. `curriculum`: binary (20 epochs, lr 1e-5) → binary + coarse (20, 5e-5)
#   → all three heads (60, 1e-4). All have 100 epochs, AdamW, linear warm-up + cosine per stage.
# * **Stages.** Each stage builds a fresh optimiser and schedule and starts from the previous stage's best weights;
#   heads not yet in the loss are frozen. `epochs_scale` scales a variant's total epochs (every variant keeps the
#   same total) and shares it over the stages; `stage_epochs` sets them explicitly. `lr_scale` multiplies the
#   stage learning rates (the variants file holds the pretrained setting).
# * **One scale.** Training crops (`img_size` px) are cut from the cached image at its own scale (jitter ×0.75–1.33);
#   validation predicts the cached image with sliding windows of `tile` px at that scale, in the training precision,
#   exactly as the final evaluation (03) does.
# * **Model selection** on `val` only: per stage, the epoch with the best mIoU (ΣI/ΣU) of its finest loss head.
#   `id_test` and `ood_test` are never read here.
# * **Re-running** resumes an unfinished run exactly (also after a kill or a SLURM preemption), does nothing for a
#   finished one (`force = True` retrains) and refuses a run dir made with other parameters.
# * `smoke = True`: one epoch of two batches per stage, to check shapes, memory and the pipeline before a long job
#   (use its own `run_dir`: its parameters differ).
#
# Outputs, all under `run_dir`: `run.json`, `history.csv`, `checkpoints/stage{k}_{last,best}.pt`,
# `figures/training_curves.{pdf,png}`.
#
# **Runs as opened after `make demo`**: the parameters default to the demo suite (`suites/demo`), here its
# curriculum run with Line art held out, which is finished, so training does nothing and the history and curves
# are shown; the cell after them says what to run first when the cache or the manifest is missing.

# %% tags=["parameters"]
smoke = False  # True: one epoch of 2 batches per stage (quick check of shapes, memory and pipeline)
cache_dir = "suites/demo/cache"  # ingest cache folder (heritage ingest)
manifest_path = "suites/demo/splits/locontent_seed0_line_art.json"  # split manifest from 01_splits; only train and val are read
variant = "curriculum"  # flat | hierarchical | curriculum_only | curriculum
epochs_scale = 0.32  # factor on the epochs of every stage (each keeps at least 1 epoch); 1.0 keeps variants.yaml
stage_epochs = None  # explicit epochs per stage, e.g. [2, 2, 6]; None uses the variant epochs times epochs_scale
encoder = "test_resnet"  # timm encoder name (e.g. convnext_tiny, the paper's)
pretrained = None  # encoder weights: a local file, "timm:<model>.<tag>" / "smp:<encoder>.<weights>", or None (random)
weights_dir = None  # folder of `heritage weights fetch` (tags load from it only), or None for the HF cache
lr_scale = 30.0  # factor on every stage's peak lr: 1 for pretrained encoders (the plan's), e.g. 30 from random init
equal_stage_lr = True  # True: every stage peaks at the variant's largest stage lr (random-init profiles)
img_size = 64  # side of the square training crops, px (multiple of 32), cut from the cache at its own scale
tile = None  # sliding-window tile of validation and evaluation, px; None for img_size
overlap = 0.0  # fraction of a validation tile shared with its neighbour, in [0, 1)
val_interval = 10  # validate every val_interval-th epoch of a stage and always its last (1: every epoch)
batch_size = 8  # images per optimiser step (per GPU under torchrun)
decoder_channels = 24  # channels of the UPerNet decoder
max_batches_per_epoch = None  # cap on training batches per epoch, or None for all
batches_per_epoch = 24  # optimiser steps per epoch whatever the train partition holds, or None for one pass
class_weights = True  # True: focal class weights (1/sqrt of pixel frequency) from the train partition (in run.json)
augment = {"damage_crop_p": 0.25}  # True, False, or settings over the defaults, e.g. {"damage_crop_p": 0.25} (heritage_core.data.loader)
amp = True  # bf16 autocast on CUDA (always off on the CPU)
seed = 0  # seed of python, numpy, torch, the loader and the model initialisation
device = "auto"  # "auto" (CUDA when available), "cpu", "cuda" or "cuda:N"
num_workers = 0  # data-loader worker processes (0: load in this process)
run_dir = "suites/demo/runs/line_art/curriculum/test_resnet/seed0"  # run directory: every output of this notebook goes here
force = False  # True: retrain a finished run, or overwrite a run dir made with other parameters
progress = True  # tqdm progress bars

# %%
from heritage_core.suite.plan import check_notebook_inputs

check_notebook_inputs("02_train_curriculum", cache_dir=cache_dir, manifest_path=manifest_path)

# %%
from IPython.display import Image

from heritage_core.report.train_plots import run_summary, save_history_figure, stage_table
from heritage_core.runs import quiet_environment
from heritage_core.train import make_config, read_history, train_run

quiet_environment()
config = make_config(
    smoke=smoke, cache_dir=cache_dir, manifest_path=manifest_path, run_dir=run_dir, variant=variant,
    epochs_scale=epochs_scale, stage_epochs=stage_epochs, encoder=encoder, pretrained=pretrained, weights_dir=weights_dir, lr_scale=lr_scale,
    equal_stage_lr=equal_stage_lr,
    img_size=img_size, tile=tile, overlap=overlap, val_interval=val_interval,
    batch_size=batch_size, decoder_channels=decoder_channels, max_batches_per_epoch=max_batches_per_epoch,
    batches_per_epoch=batches_per_epoch,
    class_weights=class_weights, augment=augment, amp=amp, seed=seed, device=device, num_workers=num_workers,
    progress=progress,
)
stage_table(config)

# %% [markdown]
# ## Train
# One call: trains, resumes or (for a finished run) does nothing.

# %%
run_path = train_run(config, force=force)
run_path

# %% [markdown]
# ## History
# One row per epoch: learning rate of the epoch's last step, mean training losses (`loss_<head>` unweighted, NaN for
# heads outside the stage's loss; `loss_total` weighted), val mIoU per head, the stage's selection score, wall time,
# training throughput and peak GPU memory.

# %%
read_history(run_path)

# %% [markdown]
# ## Curves
# Dashed lines separate the stages; circles mark the epoch each stage selected.

# %%
saved = save_history_figure(run_path)
Image(filename=str(saved["png"]), width=900)

# %% [markdown]
# ## Selected epochs
# Per stage: trainable and total parameters, the selected epoch and its val scores. The final stage's selection
# (`checkpoints/stage<K>_best.pt`) is the trained model (`heritage_core.train.load_trained_model`).

# %%
run_summary(run_path)

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
# # 06 · Real pixels: leave-one-scan-out on real film scans
#
# The four real 35 mm film scans of `film_damage_real` (binary damage masks: dust, dirt, hair, scratches; damage is
# 0.05–0.23 % of the pixels) are the only real damage pixels available offline. For each scan in turn, a small
# hierarchical model is trained on the other three at native resolution (random crops, binary head), the held-out
# scan is predicted with sliding windows, and the damage class is scored: IoU, F1, precision and recall, with 95 %
# intervals from resampling the scan's tiles. `mean` is the unweighted mean over scans (± SE over scans); `pooled`
# sums the counts of all scans. The masks are approximate (see the data README): treat the numbers as a sanity
# check of the whole chain on real data, not a benchmark. Protocol details: `heritage_core.film`.

# %% tags=["parameters"]
film_dir = "../shared/data/film_damage_real"  # folder with metadata.csv, images/ and masks/ of the real scans
output_dir = "results/film_real"  # film_loso.csv, film_loso.json and pred_<scan>.png are written here
encoder = "resnet10t"  # encoder of the model trained per held-out scan (timm name)
pretrained = None  # local encoder weights file, or None for random initialisation (never downloaded)
crop_px = 64  # side of the random training crops in px (multiple of 32)
epochs = 10  # training epochs per held-out scan
crops_per_epoch = 160  # random crops per epoch, 80 % of them centred on a damage pixel
batch_size = 16  # crops per optimiser step
lr = 0.003  # peak AdamW learning rate
tile_px = 512  # sliding-window tile side at prediction in px (multiple of 32)
overlap = 0.25  # fraction of a tile shared with its neighbour, in [0, 1)
score_tile_px = 128  # side in px of the tiles the bootstrap resamples
n_resamples = 10000  # bootstrap resamples of every interval
seed = 0  # seed of crops, initialisation and bootstrap
held_out = []  # ids of the scans to hold out in turn; empty for all four
device = "cpu"  # torch device: "cpu", "cuda" or "cuda:N"
smoke = False  # True: seconds-sized run (64 px crops, one short epoch, a 128 px window per scan)

# %%
from heritage_core import film
from heritage_core.film import loso
from heritage_core.runs import quiet_environment

quiet_environment()
params = film.make_film_params(
    smoke=smoke, encoder=encoder, pretrained=pretrained, crop_px=crop_px, epochs=epochs,
    crops_per_epoch=crops_per_epoch, batch_size=batch_size, lr=lr, tile_px=tile_px, overlap=overlap,
    score_tile_px=score_tile_px, n_resamples=n_resamples, seed=seed, device=device, held_out=held_out or None,
)
params

# %% [markdown]
# ## The scans
# Size (H, W) in px and damage pixels of each scan.

# %%
scans = loso.load_film_scans(film_dir)
[(scan.id, scan.mask.shape, int(scan.mask.sum())) for scan in scans]

# %% [markdown]
# ## Leave one scan out

# %%
table = loso.run_leave_one_scan_out(film_dir, output_dir, params, progress=True)

# %% [markdown]
# Damage class, in percent: value [95 % tile-bootstrap interval]; `mean`: value ± SE over scans.

# %%
loso.film_summary(table)

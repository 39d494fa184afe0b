"""Evaluation: per-image counts and the one mIoU definition (:mod:`.metrics`), bootstrap and permutation statistics
(:mod:`.stats`, :mod:`.across_runs`), scoring a finished run (:mod:`.evaluate`), the results table, DG gap and
variant comparisons (:mod:`.dg`, :mod:`.headline`).

The package itself imports nothing heavy (no torch), so the profiles can read its defaults.
"""

#: Default number of bootstrap resamples behind every confidence interval (functions, profiles, CLI).
N_RESAMPLES = 10_000
#: Default number of sign flips / permutations of every paired test.
N_PERMUTATIONS = 10_000

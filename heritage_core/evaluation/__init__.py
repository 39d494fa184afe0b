"""Evaluation: per-image counts and the one mIoU definition (:mod:`.metrics`), bootstrap and permutation statistics
(:mod:`.stats`, :mod:`.across_runs`), scoring a finished run (:mod:`.evaluate`), the results table, DG gap and
variant comparisons (:mod:`.dg`, :mod:`.headline`)."""

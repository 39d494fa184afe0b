"""Run every benchmark: ``python -m benchmarks`` (results as JSON under benchmarks/results/)."""
from __future__ import annotations

import importlib
import pkgutil

import benchmarks

for info in sorted(pkgutil.iter_modules(benchmarks.__path__), key=lambda m: m.name):
    if info.name.startswith("bench_"):
        print(f"== {info.name}", flush=True)
        importlib.import_module(f"benchmarks.{info.name}").main([])

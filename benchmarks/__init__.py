"""Benchmarks of heritage_core against reference implementations; run as ``python -m benchmarks.<name>``.

Each writes ``benchmarks/results/<name>.json`` (git-ignored).
"""

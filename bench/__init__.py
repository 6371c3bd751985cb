"""Benchmarks that print ratios measured in one run (see bench/__main__.py and bench/RESULTS.md)."""

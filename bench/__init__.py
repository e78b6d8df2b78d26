"""Benchmarks run by `make bench`; each prints its figure beside its anchor, as a ratio."""

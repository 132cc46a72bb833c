"""Benchmarks that print their figures; run with `r1train bench NAME`."""

"""Throughput, time-to-accuracy and profiling harnesses (`make bench`; benchmarks/README.md)."""

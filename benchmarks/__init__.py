"""Throughput benchmarks (train step, multilingual evaluation); see docs/performance.md."""

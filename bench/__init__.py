"""Benchmarks: each module is run as ``python -m bench.NAME`` and writes its own result file
(``bench/results/NAME.json``, with the figures docs/benchmarks.md shows); ``bench.suite``
runs them all, times them and collects those files."""

"""Benchmarks (DESIGN §7): ``python -m bench.NAME [--quick]`` prints one JSON object per line,
each with a baseline measured in the same run."""

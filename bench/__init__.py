"""minitorrent's benchmark: each workload against a reference measured in the same run.

Run it with ``make bench`` (or ``python bench/run.py --help``); see README.md, "Benchmarks".
"""

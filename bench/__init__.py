"""Benchmarks, each runnable as `python -m bench.<name>`; they print one JSON line last and are not run by pytest."""

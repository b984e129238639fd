"""Benchmarks: scripts that print figures and ratios (CONVENTIONS.md rule 11), not timed tests."""

"""Benchmarks of cellpipe (``make bench``): speed as ratios against named baselines, accuracy on real data.

Not part of the test suite. Each module prints its table and the command that reproduces it.
"""

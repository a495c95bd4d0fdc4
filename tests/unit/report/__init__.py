"""Tests of cellpipe.report, one file per module.

A package, so that its conftest is not imported as the module `conftest` that tests elsewhere import from.
"""

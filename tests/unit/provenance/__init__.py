"""Tests of cellpipe.provenance, cellpipe.replay and the record_provenance step.

A package, so that its conftest is not imported as the module `conftest` that tests elsewhere import from.
"""

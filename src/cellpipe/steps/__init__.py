"""Entry points of the workflow's rules: read inputs, call a stage, write outputs.

One module per rule file: the rules of ``workflow/rules/<name>.smk`` run scripts that call
``cellpipe.steps.<name>``.  Each ``*_step`` function is what one rule script calls with the paths and
settings Snakemake hands it.  Disk access goes through :mod:`cellpipe.io`; the computation is in the
stage modules.  Nothing here imports snakemake, so every step can also be called from Python or a
test.  This package imports nothing itself, so a job pays only for its own step's imports.
"""

"""cellpipe: the typed library behind the cellpipe Snakemake workflow.

Every stage is a function that takes arrays or tables and a typed settings
object and returns arrays or tables; only :mod:`cellpipe.io` touches disk.
This package never imports snakemake.
"""

__version__ = "0.1.0"

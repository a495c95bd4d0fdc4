"""Self-contained HTML quality-control reports, one per sample plus a summary.

The pages open from disk without a network: styles are inline, there are no
scripts, and every figure is a PNG rendered with matplotlib's Agg canvas and
embedded as a base64 ``data:`` URI.  Each ``<figure>`` carries the numbers it
draws in a ``data-values`` attribute (JSON: per series its name, units and
x/y values or histogram counts and bin edges; at most
:data:`cellpipe.report.figures._MAX_CARRIED_NUMBERS` numbers per figure, whole
series beyond it counted in ``series_left_out``).  Every string that comes from
data or configuration is HTML-escaped.  The functions return the HTML as a
string; writing it is :mod:`cellpipe.io`'s job.

The report shows what ``measure``, ``evaluate`` and ``qc`` computed; it draws
and formats their tables, it does not compute those quantities again.

Modules, by role:

- :mod:`~cellpipe.report.html`: page shell, CSS, escaping, number formatting, tables;
- :mod:`~cellpipe.report.figures`: matplotlib plots and the numbers each carries;
- :mod:`~cellpipe.report.images`: figures drawn over the movie (overlay, montage, trajectories);
- :mod:`~cellpipe.report.tracks`: the lineage, trajectories and mean squared displacement sections;
- :mod:`~cellpipe.report.evaluation`: the evaluation section (``evaluation.json``);
- :mod:`~cellpipe.report.qc`: the quality-control section (``qc.json``);
- :mod:`~cellpipe.report.provenance`: what the page shows of a provenance record;
- :mod:`~cellpipe.report.sections`: the normalization and montage sections;
- :mod:`~cellpipe.report.sample`: the page of one sample, its sections in order;
- :mod:`~cellpipe.report.summary`: the page over all samples.
"""

from cellpipe.report.evaluation import HEADLINE_KEYS
from cellpipe.report.provenance import as_read_text, as_read_view, ctc_export_text, provenance_view
from cellpipe.report.qc import qc_body
from cellpipe.report.sample import build_sample_report
from cellpipe.report.sections import NO_CELLS_MESSAGE
from cellpipe.report.summary import build_summary_report, summary_row

__all__ = [
    "HEADLINE_KEYS",
    "NO_CELLS_MESSAGE",
    "as_read_text",
    "as_read_view",
    "build_sample_report",
    "build_summary_report",
    "ctc_export_text",
    "provenance_view",
    "qc_body",
    "summary_row",
]

"""Package any model folder of cellpipe (weights.pth, model_card.md, training.json) for bioimage.io.

    .venv/bin/python tools/export_bioimageio.py resources/models/cellpipe_nuclei results/cellpipe_nuclei.bioimageio.zip

The rule export_bioimageio does the same for models the workflow trains. Nothing is downloaded.
"""

import argparse
import logging
from pathlib import Path

from cellpipe.steps_training import export_bioimageio_step

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("model_dir", type=Path)
parser.add_argument("output", type=Path, help="the package to write (.zip)")
args = parser.parse_args()
logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
d = args.model_dir
result = export_bioimageio_step(d / "weights.pth", d / "model_card.md", d / "training.json", args.output)
print(f"{args.output}: bioimage.io model test {result['status']}")

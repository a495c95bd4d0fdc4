"""Package any model folder of cellpipe (weights.pth, model_card.md, training.json) for bioimage.io.

    .venv/bin/python tools/export_bioimageio.py --shipped resources/models/cellpipe_nuclei results/cellpipe_nuclei.bioimageio.zip

The rule export_bioimageio does the same for models the workflow trains and for the shipped ones
(results/bioimageio/<name>.zip). Nothing is downloaded.
"""

import argparse
import logging
from pathlib import Path

from cellpipe.steps.train import export_bioimageio_step

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("model_dir", type=Path)
parser.add_argument("output", type=Path, help="the package to write (.zip)")
parser.add_argument("--shipped", action="store_true", help="the folder is a model shipped with cellpipe (resources/models/<name>)")
args = parser.parse_args()
logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
d = args.model_dir
result = export_bioimageio_step(
    d / "weights.pth", d / "model_card.md", d / "training.json", args.output, origin="shipped" if args.shipped else "trained"
)
print(f"{args.output}: bioimage.io model test {result['status']}")

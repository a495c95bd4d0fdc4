"""Measure a trained model's validation scores again and rewrite its model card.

    .venv/bin/python tools/rescore_model.py resources/models/cellpipe_nuclei --reason "..."

Run from the folder the model was trained in (its training.json names the data relative to it).
See cellpipe.train.rescore.rescore_model.
"""

import argparse
import logging

from cellpipe.train.rescore import rescore_model

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("model_dir", help="folder with weights.pth, training.json and model_card.md")
parser.add_argument("--reason", required=True, help="why the scores are measured again (written into the card)")
parser.add_argument("--device", default="auto", choices=["auto", "cuda", "mps", "cpu"])
parser.add_argument("--threads", type=int, default=2)
args = parser.parse_args()
logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
rescore_model(args.model_dir, args.reason, args.device, args.threads)

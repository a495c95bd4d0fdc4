"""The conda environments in envs/ (for `snakemake --sdm conda`) pin what pyproject.toml, the
constraints files and the Makefile's torch pins install, so a cluster run computes with the same
versions as the local one."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
# envs/<file>: (constraints file, pyproject extra, Makefile variable with the torch pins)
ENVS = {
    "cellpipe.yaml": ("constraints.txt", "cellpose3", "TORCH_SPEC"),
    "cellpipe-gpu.yaml": ("constraints.txt", "cellpose3", "TORCH_SPEC"),
    "cellpipe-sam.yaml": ("constraints-sam.txt", "sam", "SAM_TORCH_SPEC"),
}
# Runs in the submitting environment, not in a rule's conda environment.
NOT_IN_RULE_ENVS = {"snakemake-executor-plugin-slurm"}


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(lines: list[str]) -> dict[str, str]:
    """``{canonical name: version}`` of the ``name==version`` requirements among ``lines``."""
    out = {}
    for line in lines:
        match = re.match(r"\s*([A-Za-z0-9_.\-]+)\s*==\s*([^\s;#]+)", line)
        if match:
            out[canonical(match.group(1))] = match.group(2)
    return out


def env_pins(name: str) -> dict[str, str]:
    env = yaml.safe_load((REPO / "envs" / name).read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    assert "python=3.11" in env["dependencies"], name
    return pins(pip)


@pytest.mark.parametrize("name", sorted(ENVS))
def test_env_pins_agree_with_pyproject_constraints_and_makefile(name: str) -> None:
    constraints_file, extra, torch_variable = ENVS[name]
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    wanted = pins(project["dependencies"]) | pins(project["optional-dependencies"][extra])
    makefile = (REPO / "Makefile").read_text()
    spec = re.search(rf"^{torch_variable}\s*\?=\s*(.+)$", makefile, re.M).group(1)
    wanted |= pins(spec.split())  # torch (and torchvision): a range in pyproject, pinned in the Makefile
    for dropped in NOT_IN_RULE_ENVS:
        wanted.pop(dropped, None)
    have = env_pins(name)
    assert {k: have.get(k) for k in wanted} == wanted, name
    constraints = pins((REPO / "requirements" / constraints_file).read_text().splitlines())
    disagree = {k: (v, constraints[k]) for k, v in have.items() if k in constraints and constraints[k] != v}
    assert not disagree, f"{name} vs requirements/{constraints_file}: {disagree}"


def test_pin_parser_reads_what_the_files_hold() -> None:
    """The parser the test above relies on (so that it cannot pass on empty tables)."""
    assert pins(["numpy==2.0.2", "torch==2.13.0  # CUDA", "torch>=2.1", "segment_anything==1.0"]) == {
        "numpy": "2.0.2", "torch": "2.13.0", "segment-anything": "1.0",
    }
    assert len(env_pins("cellpipe.yaml")) >= 20

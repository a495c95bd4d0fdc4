"""The path from a rule file to its code is guessable: rule ``<rule>`` of ``workflow/rules/<name>.smk`` is
defined once and runs ``workflow/scripts/<rule>.py``, which calls ``cellpipe.steps.<name>.<rule>_step`` and
nothing else of cellpipe but ``cellpipe.runtime.logs`` (the job's log file) and ``cellpipe.runtime.numba_cache``."""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

from cellpipe import layout

REPO = Path(__file__).resolve().parents[2]
RULES_DIR = REPO / "workflow" / "rules"
SCRIPTS_DIR = REPO / "workflow" / "scripts"
RULE = re.compile(r"^\s*(?:rule|checkpoint)\s+(\w+)\s*:", flags=re.M)
SCRIPT = re.compile(r"^\s*script:\s*\n\s*[\"']([^\"']+)[\"']", flags=re.M)
# what a script may import from cellpipe besides its step module: sending the job's logging to snakemake.log, and
# numba's cache for the functions Cellpose and traccuracy compile at import
PLUMBING = {"cellpipe.runtime.logs": {"log_to_file"}, "cellpipe.runtime.numba_cache": {"install_numba_cache"}}


def rule_scripts(smk_text: str) -> dict[str, list[str]]:
    """Rule name -> the scripts its definitions run (file names; a rule defined twice under ``if``/``else``
    runs one script per definition), from the text of one .smk file."""
    starts = [(m.start(), m.group(1)) for m in RULE.finditer(smk_text)]
    scripts: dict[str, list[str]] = {}
    for i, (start, name) in enumerate(starts):
        end = starts[i + 1][0] if i + 1 < len(starts) else len(smk_text)
        found = SCRIPT.findall(smk_text[start:end])
        assert len(found) <= 1, f"rule {name}: {len(found)} script: directives in one definition"
        scripts.setdefault(name, []).extend(Path(s).name for s in found)
    return scripts


def scripts_by_rule() -> dict[str, tuple[str, list[str]]]:
    """Rule name -> (stem of the .smk file that defines it, the scripts it runs)."""
    found: dict[str, tuple[str, list[str]]] = {}
    for smk in sorted(RULES_DIR.glob("*.smk")):
        for name, scripts in rule_scripts(smk.read_text()).items():
            assert name not in found or found[name][0] == smk.stem, f"rule {name} defined in two files"
            found[name] = (smk.stem, found.get(name, ("", []))[1] + scripts)
    return found


def cellpipe_imports(script: Path) -> list[tuple[str, str]]:
    """(module, name) of every ``from cellpipe... import name`` in ``script``; ``import cellpipe...`` is refused."""
    imports: list[tuple[str, str]] = []
    for node in ast.walk(ast.parse(script.read_text())):
        if isinstance(node, ast.Import):
            assert not any(a.name.split(".")[0] == "cellpipe" for a in node.names), f"{script.name}: import {node.names[0].name}"
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "cellpipe":
            imports += [(node.module, alias.name) for alias in node.names]
    return imports


def test_the_rule_file_parser_finds_each_definitions_script() -> None:
    text = (
        'if config["x"]:\n\n    rule a:\n        input:\n            "i",\n        script:\n            "../scripts/a_one.py"\n\n'
        'else:\n\n    rule a:\n        script:\n            "../scripts/a.py"\n\n\nrule b:\n    shell:\n        "true"\n'
    )
    assert rule_scripts(text) == {"a": ["a_one.py", "a.py"], "b": []}


def test_every_rule_runs_its_script_that_calls_the_step_function_of_its_name() -> None:
    """For every rule of layout.RULES: its .smk file ``<name>.smk`` defines it once (one rule shape, whatever
    the config) and runs ``workflow/scripts/<rule>.py``, which imports from cellpipe only
    ``cellpipe.steps.<name>.<rule>_step`` (called once) and the log plumbing."""
    found = scripts_by_rule()
    assert set(layout.RULES) <= set(found), f"rules in no .smk file: {sorted(set(layout.RULES) - set(found))}"
    for rule in layout.RULES:
        stem, scripts = found[rule]
        assert scripts == [f"{rule}.py"], f"rule {rule} ({stem}.smk) runs {scripts}, not workflow/scripts/{rule}.py once"
        for name in scripts:
            script = SCRIPTS_DIR / name
            assert script.is_file(), f"rule {rule} ({stem}.smk): {script} does not exist"
            imports = cellpipe_imports(script)
            steps = [(module, fn) for module, fn in imports if module not in PLUMBING]
            assert all(fn in PLUMBING[module] for module, fn in imports if module in PLUMBING), f"{name}: {imports}"
            assert [module for module, _ in steps] == [f"cellpipe.steps.{stem}"], (
                f"{name} (rule {rule} in {stem}.smk) imports {steps}; expected one function of cellpipe.steps.{stem}"
            )
            function = steps[0][1]
            assert function == f"{rule}_step", f"{name} imports {function}, not the step function {rule}_step"
            assert callable(getattr(importlib.import_module(f"cellpipe.steps.{stem}"), function, None)), (
                f"{name}: cellpipe.steps.{stem} has no {function}"
            )
            calls = [
                node for node in ast.walk(ast.parse(script.read_text()))
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == function
            ]
            assert len(calls) == 1, f"{name} calls {function} {len(calls)} times"


def test_every_script_is_run_by_a_rule_and_every_step_module_has_a_rule_file() -> None:
    """No script without a rule, and no cellpipe.steps module without the .smk file of its name."""
    run = {name for _, scripts in scripts_by_rule().values() for name in scripts}
    assert {p.name for p in SCRIPTS_DIR.glob("*.py")} == run
    step_modules = {p.stem for p in (REPO / "src" / "cellpipe" / "steps").glob("*.py") if p.stem != "__init__"}
    assert step_modules <= {p.stem for p in RULES_DIR.glob("*.smk")}, step_modules - {p.stem for p in RULES_DIR.glob("*.smk")}


def test_rules_pass_the_job_settings_unedited() -> None:
    """A rule's settings come from cellpipe.config.jobs.JobSettings (common.smk's ``settings``,
    ``segment_settings``, ``training_settings``), dumped once: no rule file dumps a config section itself or
    edits a settings dict, so what a job gets is what its run info and provenance record."""
    dumps = []
    for smk in sorted(RULES_DIR.glob("*.smk")):
        text = smk.read_text()
        dumps += [(smk.name, line.strip()) for line in text.splitlines() if "model_dump(" in line]
        for value in re.findall(r"^\s*settings=(.+),\s*$", text, flags=re.M):
            assert re.fullmatch(
                r'settings\("\w+"\)|segment_settings|lambda wildcards: (settings\("\w+", name=wildcards\.\w+\)'
                r"|training_settings\(wildcards\.model\))",
                value,
            ), f"{smk.name}: settings={value}"
        assert not re.search(r"\{\*\*\w*SETTINGS|settings\([^)]*\)\[", text, flags=re.I), f"{smk.name} edits settings"
    assert sorted(dumps) == sorted([
        ("common.smk", 'return JOBS.job_settings(stage, name=name).model_dump(mode="json")'),
        ("common.smk", 'return JOBS.job_settings("segment", sample_row(wildcards)).model_dump(mode="json")'),
        ("common.smk", 'return {rule: job.model_dump(mode="json") for rule, job in jobs.items()}'),  # record_provenance's
        ("ingest.smk", 'row=lambda wildcards: sample_row(wildcards).model_dump(mode="json"),'),  # the row ingest reads
        ("provenance.smk", 'config=CFG.model_dump(mode="json"),'),  # the configuration as loaded, recorded beside
        ("report.smk", 'config=CFG.model_dump(mode="json"),'),  # ... and shown by the summary
    ])


PARAMS = re.compile(r"^(?P<indent>[ \t]*)params:[ \t]*\n(?P<body>(?:(?:(?P=indent)[ \t]+.*)?\n)+?)(?=(?P=indent)\S|\Z)", flags=re.M)
PARAM = re.compile(r"^\s*(\w+)=(.*?),?\s*$")
# what a settings= param calls -> the section of config.yaml whose job settings it gives (common.smk)
SETTINGS_CALLS = ((re.compile(r'settings\("(\w+)"'), None), (re.compile(r"\bsegment_settings\b"), "segment"),
                  (re.compile(r"\btraining_settings\("), "train"))
# params that read the configuration but are no setting of the job: how many segment_frames jobs share a movie
NOT_SETTINGS = {("segment_frames", "n_parts")}


def rule_params(smk_text: str) -> dict[str, dict[str, str]]:
    """Rule name -> its params (name -> the value's text, one line each), from the text of one .smk file."""
    starts = [(m.start(), m.group(1)) for m in RULE.finditer(smk_text)]
    params: dict[str, dict[str, str]] = {}
    for i, (start, name) in enumerate(starts):
        end = starts[i + 1][0] if i + 1 < len(starts) else len(smk_text)
        found = PARAMS.search(smk_text[start:end])
        lines = found.group("body").splitlines() if found else []
        params[name] = {m.group(1): m.group(2) for m in map(PARAM.match, lines) if m}
    return params


def test_each_job_gets_one_settings_value_of_the_section_layout_names() -> None:
    """Every rule of layout.RULES with a settings section gets it as its one ``settings`` param (what
    record_provenance records of it), through common.smk's JobSettings calls; no other param carries a setting
    (a job using a value of another section gets it inside its one value: cellpipe.config.jobs.MeasureJob)."""
    assert rule_params("rule a:\n    params:\n        settings=settings(\"qc\"),\n        n=1,\n    log:\n        x\n") == {
        "a": {"settings": 'settings("qc")', "n": "1"}}
    found: dict[str, dict[str, str]] = {}
    for smk in sorted(RULES_DIR.glob("*.smk")):
        found.update(rule_params(smk.read_text()))
    for rule, spec in layout.RULES.items():
        params = found[rule]
        given = params.get("settings")
        if spec.settings is None:
            assert given is None, f"rule {rule}: settings={given}, but layout.RULES names no section"
            continue
        assert given is not None, f"rule {rule}: no settings param for its section {spec.settings!r}"
        sections = [m.group(1) if section is None else section
                    for pattern, section in SETTINGS_CALLS for m in [pattern.search(given)] if m]
        assert sections == [spec.settings], f"rule {rule}: settings={given} gives {sections}, layout says {spec.settings!r}"
        for name, value in params.items():
            if name == "settings" or (rule, name) in NOT_SETTINGS:
                continue
            assert not re.search(r"settings\b|CFG\.\w+\.", value), f"rule {rule}: {name}={value} is a second settings value"

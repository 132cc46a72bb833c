"""The README's commands are real: every ``r1train eval`` / ``r1train compare`` line in its shell blocks
parses with the CLI's own parser, and the run directory it evaluates is the one ``make demo`` writes."""

from __future__ import annotations

import fnmatch
import re
import shlex
from pathlib import Path

import pytest

from eval.cli import compare_parser, eval_parser

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text()
SHELL = "\n".join(re.findall(r"```bash\n(.*?)```", README, re.DOTALL))
COMMANDS = [ln.split("  #")[0].strip() for ln in SHELL.splitlines() if ln.startswith(("r1train eval", "r1train compare"))]


def test_the_readme_shows_eval_and_compare() -> None:
    assert sum(c.startswith("r1train eval ") for c in COMMANDS) >= 2 and any("compare" in c for c in COMMANDS)


@pytest.mark.parametrize("line", COMMANDS)
def test_readme_command_parses(line: str) -> None:
    words = shlex.split(line)[2:]
    parser = eval_parser() if line.startswith("r1train eval") else compare_parser()
    try:
        parser.parse_args(words)
    except SystemExit as exc:  # argparse's way of saying "no such option"
        raise AssertionError(f"README: {line!r} does not parse") from exc


def test_readme_evaluates_the_directory_make_demo_writes() -> None:
    # the demo target's own recipe line (other targets write run directories of their own)
    [demo] = re.findall(r"^demo:.*\n\t.*train\.output_dir=(\S+)", (REPO / "Makefile").read_text(), re.MULTILINE)
    written = demo.replace("$$(date +%Y%m%d-%H%M%S)", "20261201-101500")  # what one run of make demo makes
    pocket = [shlex.split(c)[2] for c in COMMANDS if "--benchmarks pocket" in c]
    assert pocket, "the README no longer evaluates the pocket run"
    for arg in pocket:
        pattern = re.fullmatch(r"\$\(ls -d (\S+) \| tail -1\)", arg)
        assert pattern and fnmatch.fnmatch(written, pattern[1]), (arg, written)

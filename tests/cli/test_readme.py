"""The README's quick start, run as written: clone -> own spec -> summary -> picture."""

from __future__ import annotations

import os
import re
import shlex
import shutil
from pathlib import Path

from tests.cli.helpers import invoke

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _quick_start() -> list[list[str]]:
    section = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```bash\n(.*?)```", section, re.S)
    return [shlex.split(line.split("#", 1)[0]) for block in blocks for line in block.splitlines() if line.strip()]


def test_quick_start_runs_as_written(tmp_path: Path, monkeypatch) -> None:
    commands = _quick_start()
    # the set-up commands open the README: one runs the main job on the default spec, one the tests
    assert commands[0] == ["python3", "dev.py", "demo"] and commands[1] == ["python3", "dev.py", "test"]
    assert commands[2][0] == "source"
    shutil.copytree(ROOT / "specs", tmp_path / "specs")
    monkeypatch.chdir(tmp_path)
    ran = []
    for argv in commands[3:]:
        if argv[0] == "cp":
            shutil.copy(argv[1], argv[2])
            continue
        assert argv[0] == "blockforge", argv
        if argv[1] == "train":  # minutes of training: the training tests run it; here, that it is offered
            ran.append("train")
            continue
        if argv[1] == "summary":
            argv = [*argv, "--seq-len", "4"]  # the same command, a shorter probe
        result = invoke(*argv[1:])
        assert result.exit_code == 0, (argv, result.output)
        ran.append(argv[1])
    assert ran[:4] == ["summary", "validate", "summary", "draw"]
    assert (tmp_path / "my-model.svg").read_text().startswith("<svg")


def test_readme_and_docs_carry_no_internal_text() -> None:
    texts = {p.name: p.read_text(encoding="utf-8") for p in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]}
    for name, text in texts.items():
        for internal in (re.compile(r"(?<![/\w])shared/"), "design card", "blockforge migrate", "make setup", re.compile(r"\bissue \d")):
            found = internal.search(text) if isinstance(internal, re.Pattern) else internal in text
            assert not found, f"{name} mentions {internal!r}"
    assert "source .venv/bin/activate" in texts["README.md"]
    assert "dev.py demo [ARGS]" in texts["README.md"] and "blockforge summary [ARGS]" in texts["README.md"]
    assert os.path.exists(ROOT / "specs" / "tiny.yaml")

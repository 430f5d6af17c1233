#!/usr/bin/env python3
"""Set-up and everyday tasks, with nothing but Python 3.11+ and pip.

    python3 dev.py setup    # create .venv and install blockforge (editable) into it
    python3 dev.py demo     # set up, then `blockforge summary ARGS` (no ARGS: the seed model)
    python3 dev.py test     # create .venv, install, run the test suite (extra args go to pytest)
    python3 dev.py bench    # run the benchmarks and write benchmarks/RESULTS.md

The virtual environment is created once in .venv and reinstalled only when pyproject.toml or
constraints.txt change. torch is pinned to the 2.13.0 CPU build in constraints.txt.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = Path(os.environ.get("BLOCKFORGE_VENV", ROOT / ".venv"))
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / "python"
EXTRAS = os.environ.get("BLOCKFORGE_EXTRAS", "dev,hf,train")  # hf: transformers for the parity tests; train: corpus, plots


def _stamp() -> str:
    h = hashlib.sha256()
    for name in ("pyproject.toml", "constraints.txt"):
        h.update((ROOT / name).read_bytes())
    h.update(EXTRAS.encode())
    return h.hexdigest()


def setup() -> None:
    """Create the venv and install blockforge (editable) with its dev extra, if not up to date."""
    stamp_file = VENV / ".blockforge-stamp"
    if stamp_file.exists() and stamp_file.read_text() == _stamp() and PY.exists():
        return
    if not PY.exists():
        print(f"creating virtual environment in {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    pip = [str(PY), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    print("installing blockforge and its dependencies (torch 2.13.0 CPU build)...", flush=True)
    subprocess.run([*pip, "-c", str(ROOT / "constraints.txt"), "-e", f"{ROOT}[{EXTRAS}]"], check=True)
    stamp_file.write_text(_stamp())


def run(cmd: list[str]) -> int:
    return subprocess.run(cmd, cwd=ROOT).returncode


def main(argv: list[str]) -> int:
    task, rest = (argv[0], argv[1:]) if argv else ("demo", [])
    if task not in ("setup", "demo", "test", "bench"):
        print(__doc__)
        return 2
    setup()
    if task == "demo":
        code = run([str(BIN / "blockforge"), "summary", *rest])
        _where()
        return code
    if task == "test":
        return run([str(PY), "-m", "pytest", *rest])
    if task == "bench":
        return run([str(PY), "-m", "benchmarks", *rest])
    _where()
    return 0


def _where() -> None:
    """Say how to reach the installed command (it lives in the venv, not on PATH)."""
    activate = VENV / "Scripts" / "activate" if os.name == "nt" else VENV / "bin" / "activate"
    rel = os.path.relpath(activate) if os.name == "nt" else f"source {os.path.relpath(activate)}"
    print(f"\nblockforge is installed in {os.path.relpath(VENV)}: run `{rel}` to put `blockforge` on PATH "
          f"(or call {os.path.relpath(BIN / 'blockforge')} directly); `blockforge --help` lists the commands.")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""What ``blockforge validate`` loads: its start-up is its latency (benchmarks/ measures it; here we check
the imports it avoids, which a test can show without timing anything)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SPEC = Path(__file__).resolve().parents[2] / "specs" / "seed.yaml"

PROBE = """
import sys
sys.argv = ["blockforge", "validate", {spec!r}]
from blockforge.cli import main
try:
    main()
except SystemExit as exc:
    assert not exc.code, exc.code
loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "rich")
                or m.startswith("blockforge.cli.") and m not in ("blockforge.cli._app", "blockforge.cli.commands",
                                                                 "blockforge.cli.context", "blockforge.cli.validate"))
print("LOADED", loaded)
"""


def test_validate_loads_no_torch_no_rich_and_no_other_command() -> None:
    r = subprocess.run([sys.executable, "-c", PROBE.format(spec=str(SPEC))], capture_output=True, text=True,
                       env={"BLOCKFORGE_DISABLE_PLUGINS": "all", "PATH": ""}, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "ok " in r.stdout and "LOADED []" in r.stdout, r.stdout

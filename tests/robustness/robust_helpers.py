"""Helpers of the robustness suite (a module of its own name: every test folder has a conftest)."""

import subprocess
import sys
from pathlib import Path

CHURNML = str(Path(sys.executable).parent / "churnml")
AS_OF = "2025-04-01"


def run(*args: str, cwd: Path, env: dict | None = None, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run([CHURNML, *args], capture_output=True, text=True, cwd=cwd, timeout=timeout, env=env)

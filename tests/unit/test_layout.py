"""The core's stages import only the stages below them, and none imports mitmproxy.

wire (bytes to structures) -> cos (COS's rules) -> findings (checks, catalogue, pipeline) -> render
(every word). A newcomer reads the flow of a request from the folder names; this test keeps it so.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

CORE = Path(__file__).resolve().parents[2] / "addon" / "cosdoctor"
STAGES = ("wire", "cos", "findings", "render")
MODULES = sorted(p for p in CORE.rglob("*.py") if p.parent != CORE)


def imported_modules(path: Path) -> set[str]:
    """Every module `path` imports, anywhere in the file (function-level imports included)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            if node.module == "cosdoctor":
                names.update(f"cosdoctor.{alias.name}" for alias in node.names)
    return names


def stage_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "cosdoctor" and parts[1] in STAGES else None


def test_every_core_module_lives_in_a_stage():
    assert MODULES, "no core modules found"
    loose = [p.name for p in CORE.glob("*.py") if p.name != "__init__.py"]
    assert loose == []
    assert {p.relative_to(CORE).parts[0] for p in MODULES} == set(STAGES)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(CORE)))
def test_stage_imports_only_stages_below(path: Path):
    own = STAGES.index(path.relative_to(CORE).parts[0])
    imports = imported_modules(path)
    upward = sorted(m for m in imports if stage_of(m) is not None and STAGES.index(stage_of(m)) > own)
    assert upward == []
    assert not any(m == "mitmproxy" or m.startswith("mitmproxy.") for m in imports)
    assert not any(m.startswith("cosdoctor.") and stage_of(m) is None for m in imports)


def test_the_check_sees_an_upward_import(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text("from cosdoctor.render.text import comment\nimport mitmproxy.http\n")
    assert imported_modules(probe) == {"cosdoctor.render.text", "mitmproxy.http"}

"""addon/cos_addon.py: what `mitmdump -s` loads, from any folder and through a symlink."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import cos_addon
from cosaddons.doctor import CosDoctor

SCRIPT = Path(cos_addon.__file__).resolve()
LOAD = ("import sys; from mitmproxy.addons.script import load_script; "
        "module = load_script(sys.argv[1]); print(type(module.addons[0]).__name__, len(module.addons[0].addons))")


def test_one_doctor_carries_every_feature():
    (doctor,) = cos_addon.addons
    assert isinstance(doctor, CosDoctor)
    assert {type(a).__name__ for a in doctor.addons} == {
        "CosBlock", "CosReport", "CosAudit", "CosCommands", "CosContentView"}


def load_in_a_fresh_interpreter(path: Path, cwd: Path) -> subprocess.CompletedProcess:
    """mitmproxy's own script loader, with none of this project's folders on sys.path."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run([sys.executable, "-c", LOAD, str(path)], capture_output=True, text=True,
                          cwd=str(cwd), env=env, timeout=60)


def test_loads_from_another_folder(tmp_path):
    result = load_in_a_fresh_interpreter(SCRIPT, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["CosDoctor", "5"]


def test_loads_through_a_symlink(tmp_path):
    link = tmp_path / "elsewhere" / "cos.py"
    link.parent.mkdir()
    link.symlink_to(SCRIPT)
    result = load_in_a_fresh_interpreter(link, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["CosDoctor", "5"]

"""Start the real pieces on loopback: the COS emulator and mitmdump with the addon in front of it.

Shared by the demo, the end-to-end tests and the load/benchmark scripts, so they all exercise the
same setup a user runs: `mitmdump -s addon/cos_addon.py` in reverse mode with the COS Host kept.
"""
from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ADDON = ROOT / "addon" / "cos_addon.py"
sys.path.insert(0, str(ROOT / "addon"))
sys.path.insert(0, str(ROOT / "scripts"))

from cos_emulator import Emulator, make_server  # noqa: E402
from cosdoctor.cos.credentials import load_credentials  # noqa: E402

# The official test identity from COS's signature docs (cos-post-object.md §3.1): not a real account.
SECRET_ID = "AKIDQjz3ltompVjBni5LitkWHFlFpwkn9U5q"
SECRET_KEY = "BQYIM75p8x0iWVFSIgqEKwFprpRSVHlz"
BUCKET = "examplebucket-1250000000"
COS_HOST = f"{BUCKET}.cos.ap-beijing.myqcloud.com"
LISTEN_RE = re.compile(r"listening at (?:http://)?\[?([\d.:a-f]+)\]?:(\d+)")


def mitmdump_path() -> str:
    """The mitmdump next to this interpreter (the venv's), else the one on PATH."""
    local = Path(sys.executable).parent / "mitmdump"
    return str(local) if local.exists() else (shutil.which("mitmdump") or "mitmdump")


def write_credentials(directory: Path, pairs=((SECRET_ID, SECRET_KEY),)) -> Path:
    """The cos_credentials file: one `SecretId SecretKey [Token]` line per tuple in `pairs`."""
    path = directory / "credentials.txt"
    path.write_text("# SecretId SecretKey [Token]\n" + "".join(" ".join(entry) + "\n" for entry in pairs))
    path.chmod(0o600)
    return path


@dataclass
class EmulatorThread:
    emulator: Emulator
    port: int
    server: object = field(repr=False)

    @classmethod
    def start(cls, credentials_file: Path | None, **options) -> "EmulatorThread":
        emulator = Emulator(load_credentials(str(credentials_file) if credentials_file else None, {}),
                            **options)
        server = make_server(emulator, 0)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return cls(emulator, server.server_address[1], server)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class Proxy:
    """A mitmdump subprocess; `port` is where clients connect."""

    process: subprocess.Popen
    port: int
    workdir: Path
    output: list[str]

    @classmethod
    def start(cls, upstream_port: int, *options: str, workdir: Path | None = None,
              mode: str = "reverse", extra_scripts: tuple[str, ...] = (), env: dict | None = None,
              timeout: float = 30) -> "Proxy":
        workdir = Path(workdir or tempfile.mkdtemp(prefix="cosrig-"))
        confdir = workdir / "conf"
        confdir.mkdir(parents=True, exist_ok=True)
        args = [mitmdump_path(), "--listen-host", "127.0.0.1", "-p", "0", "--set", f"confdir={confdir}"]
        if mode == "reverse":
            args += ["--mode", f"reverse:http://127.0.0.1:{upstream_port}", "--set", "keep_host_header=true"]
        else:
            args += ["--set", "connection_strategy=lazy"]
        for script in extra_scripts:
            args += ["-s", script]
        args += ["-s", str(ADDON), *options]
        process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                   cwd=str(workdir), env=dict(os.environ, PYTHONUNBUFFERED="1", **(env or {})))
        output: list[str] = []
        port = _wait_for_port(process, output, timeout)
        threading.Thread(target=_drain, args=(process, output), daemon=True).start()
        return cls(process, port, workdir, output)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self, timeout: float = 20) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        time.sleep(0.05)
        return self.process.returncode

    def log(self) -> str:
        return "".join(self.output)


def _wait_for_port(process: subprocess.Popen, output: list[str], timeout: float) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            if process.poll() is not None:
                raise RuntimeError("mitmdump exited during start-up:\n" + "".join(output))
            continue
        output.append(line)
        match = LISTEN_RE.search(line)
        if match:
            return int(match.group(2))
    process.kill()
    raise RuntimeError("mitmdump did not report its port:\n" + "".join(output))


def _drain(process: subprocess.Popen, output: list[str]) -> None:
    for line in process.stdout:
        output.append(line)


def run_mitmdump(*args: str, workdir: Path, timeout: float = 60) -> subprocess.CompletedProcess:
    """mitmdump for offline runs (-nr) and option errors: wait for it to exit by itself."""
    confdir = workdir / "conf"
    confdir.mkdir(parents=True, exist_ok=True)
    return subprocess.run([mitmdump_path(), "--set", f"confdir={confdir}", *args], capture_output=True,
                          text=True, timeout=timeout, cwd=str(workdir),
                          env=dict(os.environ, PYTHONUNBUFFERED="1"))

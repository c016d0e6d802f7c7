"""The processes the end-to-end and memory benchmarks compare: mitmdump with the addon, with an empty
script, bare, or with the hooks timed (scripts/hook_timer.py); the emulator behind them; a client."""
from __future__ import annotations

import http.client
import os
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

import cosrig
from devkit.bench.measure import pin

VARIANTS = ("addon", "script", "bare")   # mitmdump -s cos_addon.py, -s <empty script>, no script
EMPTY_SCRIPT = "# An empty mitmproxy script: what hosting any script costs the proxy.\n"
HOOK_TIMER = cosrig.ROOT / "scripts" / "hook_timer.py"


def start_mitmdump(upstream_port: int, workdir: Path, *extra: str, env: dict | None = None) -> cosrig.Proxy:
    """cosrig.Proxy.start's command line, with `extra` in place of `-s addon/cos_addon.py`."""
    confdir = workdir / "conf"
    confdir.mkdir(parents=True, exist_ok=True)
    args = [cosrig.mitmdump_path(), "--listen-host", "127.0.0.1", "-p", "0", "--set", f"confdir={confdir}",
            "--mode", f"reverse:http://127.0.0.1:{upstream_port}", "--set", "keep_host_header=true", *extra]
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               cwd=str(workdir), env=dict(os.environ, PYTHONUNBUFFERED="1", **(env or {})))
    output: list[str] = []
    port = cosrig._wait_for_port(process, output, 30)
    threading.Thread(target=cosrig._drain, args=(process, output), daemon=True).start()
    return cosrig.Proxy(process, port, workdir, output)


def start_proxy(variant: str, upstream_port: int, credentials: Path, root: Path, tag: str) -> cosrig.Proxy:
    workdir = Path(tempfile.mkdtemp(prefix=f"{tag}-", dir=root))
    if variant == "addon":
        return cosrig.Proxy.start(upstream_port, "--set", f"cos_credentials={credentials}", workdir=workdir)
    if variant == "script":
        script = workdir / "empty_script.py"
        script.write_text(EMPTY_SCRIPT)
        return start_mitmdump(upstream_port, workdir, "-s", str(script))
    return start_mitmdump(upstream_port, workdir)


def compile_addon() -> None:
    """Byte-compile addon/ first, as any run after the first finds it: mitmproxy's own modules are
    measured from their compiled files, and compiling ours at start-up would count the compiler's
    transient memory (about 1.5 MiB of resident set) as the addon's footprint."""
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(cosrig.ROOT / "addon")], check=True,
                   stdout=subprocess.DEVNULL)


@dataclass(frozen=True)
class Kind:
    name: str
    method: str
    host: str
    path: str
    body: bytes
    content_type: str | None
    expect: int
    batch: int
    headers: tuple[tuple[str, str], ...] = ()     # more request headers (a PUT's Authorization)
    group: str | None = None   # whose target judges it: "put" (XML API); None: by its host (post or non-cos)


class Client:
    """One keep-alive connection per proxy, reopened if the proxy closes it."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.conn: http.client.HTTPConnection | None = None

    def send(self, kind: Kind, tag: bool = False) -> int:
        """tag: name the kind in an X-Bench-Kind header (for scripts/hook_timer.py)."""
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
            headers = {"Host": kind.host}
            if tag:
                headers["X-Bench-Kind"] = kind.name
            if kind.content_type:
                headers["Content-Type"] = kind.content_type
            headers.update(kind.headers)
            try:
                self.conn.request(kind.method, kind.path, body=kind.body or None, headers=headers)
                response = self.conn.getresponse()
                response.read()
            except (http.client.HTTPException, ConnectionError):
                self.close()
                if attempt == 2:
                    raise
                continue
            if response.will_close:
                self.close()
            return response.status
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def start_emulator(root: Path) -> tuple[cosrig.EmulatorThread, Path]:
    credentials = cosrig.write_credentials(root)
    emulator = cosrig.EmulatorThread.start(credentials)
    # Its error answers are written as headers then body: without TCP_NODELAY, Nagle and delayed ACK
    # add ~40 ms of idle wall time to every 4xx, which would drown the wall-time ratios.
    emulator.server.RequestHandlerClass.disable_nagle_algorithm = True
    return emulator, credentials


def pin_proxies(proxies, pin_cpus: bool) -> None:
    """Proxies on the last CPU, this process (the clients) on the others: no contention between them."""
    cpus = sorted(os.sched_getaffinity(0))
    if pin_cpus and len(cpus) >= 2:
        for proxy in proxies:
            pin(proxy.process.pid, {cpus[-1]})
        os.sched_setaffinity(0, set(cpus[:-1]))

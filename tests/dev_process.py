"""A `complaints dev` run as a person runs it, for the tests that need the whole embedded stack."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from samples import COMPLAINTS, clean_env


class DevProcess:
    """A running `complaints dev`, with its stdout read on a thread so a hang fails the test instead of the run."""

    def __init__(
        self, data_dir: Path, temporal_port: int, ui_port: int, metrics_port: int, web_port: int | None = None
    ) -> None:
        self.data_dir = data_dir
        self.temporal_port, self.ui_port, self.web_port = temporal_port, ui_port, web_port
        web = ["--web-port", str(web_port)] if web_port else ["--no-web"]
        self.proc = subprocess.Popen(
            [str(COMPLAINTS), "dev", "--data-dir", str(data_dir),
             "--temporal-port", str(temporal_port), "--ui-port", str(ui_port), "--mail-ingress-port", "0", *web],
            env=clean_env(COMPLAINTS_METRICS_ADDRESS=f"127.0.0.1:{metrics_port}"),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        self.lines: queue.Queue[str] = queue.Queue()
        self.stderr: list[str] = []
        threading.Thread(target=self._pump, args=(self.proc.stdout, self.lines.put), daemon=True).start()
        threading.Thread(target=self._pump, args=(self.proc.stderr, self.stderr.append), daemon=True).start()

    @staticmethod
    def _pump(stream: Any, sink: Any) -> None:
        for line in stream:
            sink(line)

    def addresses(self, timeout: float = 90) -> dict[str, Any]:
        """The JSON object `complaints dev` prints once everything is up."""
        text = ""
        deadline = time.monotonic() + timeout
        while True:
            try:
                text += self.lines.get(timeout=0.2)
            except queue.Empty:
                if self.proc.poll() is None and time.monotonic() < deadline:
                    continue
                raise AssertionError(f"no addresses printed; stderr:\n{''.join(self.stderr)}") from None
            try:
                parsed: dict[str, Any] = json.loads(text)
                return parsed
            except json.JSONDecodeError:
                continue

    def interrupt(self) -> int:
        """Ctrl-C, and the exit status once everything has stopped."""
        self.proc.send_signal(signal.SIGINT)
        try:
            return self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise AssertionError(f"complaints dev did not stop; stderr:\n{''.join(self.stderr)}") from None


class Processes:
    """Product processes (`complaints worker`, `web`, ...) started as a service manager starts them, each once its
    log says it is ready; whatever is left is stopped at the end."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.procs: list[subprocess.Popen[str]] = []
        self.logs: dict[int, Path] = {}

    def launch(
        self, argv: list[str], env: Mapping[str, str], ready: str = "worker started", name: str = "worker"
    ) -> subprocess.Popen[str]:
        """`argv` with exactly `env`, once its log says `ready`; its output goes to `<name>-<n>.log`."""
        log = self.log_dir / f"{name}-{len(self.procs)}.log"
        with log.open("w") as out:
            proc = subprocess.Popen(argv, env=dict(env), stdout=out, stderr=subprocess.STDOUT, text=True)
        self.procs.append(proc)
        self.logs[proc.pid] = log
        self.wait_for(proc, ready)
        return proc

    def log_of(self, proc: subprocess.Popen[str]) -> str:
        return self.logs[proc.pid].read_text()

    def wait_for(self, proc: subprocess.Popen[str], line: str, within: float = 60) -> None:
        """Until the process's log holds `line`; fails if it exits first."""
        deadline = time.monotonic() + within
        while line not in (log := self.log_of(proc)):
            assert proc.poll() is None, f"{proc.args} exited with {proc.returncode}:\n{log}"
            assert time.monotonic() < deadline, f"no {line!r} from {proc.args} within {within:.0f}s:\n{log}"
            time.sleep(0.1)

    def stop(self, proc: subprocess.Popen[str], sig: signal.Signals = signal.SIGTERM) -> int:
        """Send `sig` to one process and wait for it to exit; its exit status. SIGTERM lets it finish what it holds
        (a service manager's stop), SIGKILL is the crash."""
        os.kill(proc.pid, sig)
        try:
            return proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise AssertionError(f"{proc.args} ({proc.pid}) did not exit on {sig.name}") from None

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def processes_using(path: Path) -> list[str]:
    """Command lines of live processes that mention `path`: the dev server, the postmaster, `complaints dev`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if str(path) in cmdline:
            found.append(f"{entry.name}: {cmdline}")
    return found


def kill_leftovers(path: Path) -> None:
    """Never leave servers behind, even when a test failed."""
    for line in processes_using(path):
        os.kill(int(line.split(":", 1)[0]), signal.SIGKILL)

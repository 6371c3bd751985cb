"""`complaints worker` processes a fault drill can kill, as a service runs them (environment only)."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

from samples import COMPLAINTS, clean_env

from starter.codec import KeyRing
from starter.stack import free_port


class Workers:
    """Starts `complaints worker` processes against one server and database; stops whatever is left at the end."""

    def __init__(self, database_url: str, key_ring: KeyRing, log_dir: Path) -> None:
        self.database_url = database_url
        self.key_ring = key_ring
        self.log_dir = log_dir
        self.procs: list[subprocess.Popen[str]] = []

    def start(self, temporal_address: str) -> subprocess.Popen[str]:
        log = self.log_dir / f"worker-{len(self.procs)}.log"
        env = clean_env(
            TEMPORAL_ADDRESS=temporal_address,
            DATABASE_URL=self.database_url,
            COMPLAINTS_ENCRYPTION_KEYS=self.key_ring.to_spec(),
            COMPLAINTS_METRICS_ADDRESS=f"127.0.0.1:{free_port()}",
            COMPLAINTS_DATA_DIR=str(self.log_dir / "no-dev-stack"),
        )
        with log.open("w") as out:
            proc = subprocess.Popen(
                [str(COMPLAINTS), "worker"], env=env, stdout=out, stderr=subprocess.STDOUT, text=True
            )
        self.procs.append(proc)
        deadline = time.monotonic() + 60
        while "worker started" not in log.read_text():
            assert proc.poll() is None, f"complaints worker exited with {proc.returncode}:\n{log.read_text()}"
            assert time.monotonic() < deadline, f"complaints worker did not start:\n{log.read_text()}"
            time.sleep(0.1)
        return proc

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

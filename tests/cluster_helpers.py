"""Starting a local TF_CONFIG cluster of real processes on 127.0.0.1 for the cluster tests.

Each task runs tests/distribution/cluster_task.py in its own process group, with stdout/stderr
in OUT_DIR/<task>.log; `LocalCluster.close()` SIGKILLs every group still alive, so no process
outlives a test (also when it fails or times out).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TASK_SCRIPT = os.path.join(HERE, "distribution", "cluster_task.py")


def free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def make_cluster(**counts: int) -> dict[str, list[str]]:
    """{'chief': 1, 'worker': 2, ...} -> a TF_CONFIG cluster on free 127.0.0.1 ports."""
    ports = iter(free_ports(sum(counts.values())))
    return {job: [f"127.0.0.1:{next(ports)}" for _ in range(n)] for job, n in counts.items() if n}


class LocalCluster:
    """The processes of one cluster run; a context manager that kills them all on exit."""

    def __init__(self, cluster: dict, mode: str, model_dir: str, out_dir: str, args=()):
        self.cluster, self.mode, self.model_dir, self.out_dir = cluster, mode, model_dir, out_dir
        self.args = list(args)
        self.procs: dict[str, subprocess.Popen] = {}
        os.makedirs(out_dir, exist_ok=True)

    def start(self, job: str, index: int, args=()) -> subprocess.Popen:
        name = f"{job}{index}"
        env = dict(os.environ, TF_CONFIG=json.dumps(
            {"cluster": self.cluster, "task": {"type": job, "index": index}}),
            TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="-1")
        log = open(os.path.join(self.out_dir, f"{name}.log"), "ab")
        proc = subprocess.Popen(
            [sys.executable, TASK_SCRIPT, self.mode, self.model_dir, self.out_dir,
             *self.args, *args], env=env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True)
        log.close()
        self.procs[name] = proc
        return proc

    def start_all(self) -> "LocalCluster":
        for job, addresses in self.cluster.items():
            for index in range(len(addresses)):
                self.start(job, index)
        return self

    def wait(self, timeout: float, names=None) -> dict[str, int]:
        """Return codes of `names` (default: all), failing with their logs after `timeout`."""
        names = list(names or self.procs)
        deadline = time.monotonic() + timeout
        codes = {}
        for name in names:
            try:
                codes[name] = self.procs[name].wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                raise AssertionError(f"{name} still running after {timeout} s\n" +
                                     self.logs()) from None
        return codes

    def kill(self, name: str) -> None:
        proc = self.procs[name]
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        proc.wait()

    def log(self, name: str) -> str:
        with open(os.path.join(self.out_dir, f"{name}.log"), errors="replace") as f:
            return f.read()

    def logs(self, tail: int = 3000) -> str:
        return "\n".join(f"--- {name} (rc={p.poll()}) ---\n{self.log(name)[-tail:]}"
                         for name, p in self.procs.items())

    def report(self, name: str) -> dict:
        """What the latest process of task `name` wrote (cluster_task.py's <task>-<pid>.json)."""
        with open(os.path.join(self.out_dir, f"{name}-{self.procs[name].pid}.json")) as f:
            return json.load(f)

    def evaluated(self) -> list[dict]:
        records = [json.load(open(os.path.join(self.out_dir, f))) for f in os.listdir(self.out_dir)
                   if f.startswith("evaluated-") and f.endswith(".json")]
        return sorted(records, key=lambda r: r["step"])

    def close(self) -> None:
        for name in list(self.procs):
            self.kill(name)

    def __enter__(self) -> "LocalCluster":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

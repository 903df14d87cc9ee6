"""Start a local TF_CONFIG cluster on 127.0.0.1: one process per task, all running one script.

What a cluster manager (Kubeflow TFJob, Vertex AI, TonY) does on several machines, on one:
pick free ports, give each process its TF_CONFIG, start them, wait. Every task's output goes
to <log-dir>/<task>.log; when one task fails (or on Ctrl-C / --timeout) the others are
SIGKILLed, so no process is left behind.

    python examples/launch_local_cluster.py --workers 1 --ps 1 --evaluator
    python examples/launch_local_cluster.py --workers 1 --evaluator -- --sync
Arguments after `--` go to the script (default: examples/distributed_train_and_evaluate.py,
with --model-dir added).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def cluster_spec(workers: int, ps: int, evaluator: bool) -> dict[str, list[str]]:
    jobs = {"chief": 1, "worker": workers, "ps": ps, "evaluator": int(evaluator)}
    ports = iter(free_ports(sum(jobs.values())))
    return {job: [f"127.0.0.1:{next(ports)}" for _ in range(n)] for job, n in jobs.items() if n}


def launch(script: list[str], cluster: dict, log_dir: str, timeout: float) -> int:
    """Run every task; returns 0 when all exited 0."""
    procs: dict[str, subprocess.Popen] = {}
    try:
        for job, addresses in cluster.items():
            for index in range(len(addresses)):
                name = f"{job}{index}"
                env = dict(os.environ, TF_CONFIG=json.dumps(
                    {"cluster": cluster, "task": {"type": job, "index": index}}))
                with open(os.path.join(log_dir, f"{name}.log"), "wb") as log:
                    procs[name] = subprocess.Popen([sys.executable, *script], env=env,
                                                   stdout=log, stderr=subprocess.STDOUT,
                                                   start_new_session=True)
                print(f"started {name} (pid {procs[name].pid}) at {addresses[index]}", flush=True)
        deadline = time.monotonic() + timeout
        while any(p.poll() is None for p in procs.values()):
            failed = [n for n, p in procs.items() if p.poll() not in (None, 0)]
            if failed:
                print(f"{failed} failed; stopping the others (see {log_dir})", flush=True)
                return 1
            if time.monotonic() > deadline:
                print(f"timed out after {timeout:g} s (see {log_dir})", flush=True)
                return 1
            time.sleep(0.5)
        for name, proc in procs.items():
            print(f"{name} exited {proc.returncode}", flush=True)
        return 0 if all(p.returncode == 0 for p in procs.values()) else 1
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def main() -> int:
    argv = sys.argv[1:]
    script_args = argv[argv.index("--") + 1:] if "--" in argv else []
    argv = argv[:argv.index("--")] if "--" in argv else argv
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=1, help="worker tasks besides the chief")
    parser.add_argument("--ps", type=int, default=0, help="ps tasks (parameter-server training)")
    parser.add_argument("--evaluator", action="store_true", help="add an evaluator task")
    parser.add_argument("--script", default=os.path.join(HERE, "distributed_train_and_evaluate.py"))
    parser.add_argument("--model-dir", default=None)
    parser.add_argument("--log-dir", default=None)
    parser.add_argument("--timeout", type=float, default=600)
    args = parser.parse_args(argv)
    model_dir = args.model_dir or tempfile.mkdtemp(prefix="cluster_model_")
    log_dir = args.log_dir or os.path.join(model_dir, "task_logs")
    os.makedirs(log_dir, exist_ok=True)
    cluster = cluster_spec(args.workers, args.ps, args.evaluator)
    print(f"model_dir {model_dir}\ncluster {json.dumps(cluster)}", flush=True)
    return launch([args.script, "--model-dir", model_dir, *script_args], cluster, log_dir,
                  args.timeout)


if __name__ == "__main__":
    sys.exit(main())

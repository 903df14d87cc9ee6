"""SIGKILL at random and targeted moments never damages what a user saved (issue 13).

Three kinds of trials (Estimator.train with a checkpoint every 7 steps, SpecModel.save_checkpoint,
export_saved_model with LatestExporter garbage collection) each kill a child of
tests/crash_worker.py (a fork server: TensorFlow is imported once) either a random time after it
started working or a few milliseconds after it announced a save / SavedModel write / export
deletion. The next trial's child is the "next run": before it does anything new, the test checks
that it resumed at the latest listed checkpoint, that every listed checkpoint is intact, and
that no temp file, unlisted checkpoint or unfinished export directory is left.

CI runs a quick version (QUICK_TRIALS per kind); KERAS_SPEC_CRASH_TRIALS=200 runs the long one.
"""

import json
import logging
import os
import queue
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest
import tensorflow as tf

import safety_helpers as h
from adapters import Estimator, RunConfig
from adapters.tf1 import checkpoint_state
from adapters.tf1 import model_dir as model_dir_lib

pytestmark = pytest.mark.crash

QUICK_TRIALS = 10
TRIALS = int(os.environ.get("KERAS_SPEC_CRASH_TRIALS", QUICK_TRIALS))
WORKER = os.path.join(os.path.dirname(__file__), "crash_worker.py")
TIMEOUT_S = 120


class Server:
    """The fork server and a thread reading its lines."""

    def __init__(self):
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        env = dict(os.environ, PYTHONPATH=root + os.pathsep + os.environ.get("PYTHONPATH", ""))
        self.process = subprocess.Popen([sys.executable, WORKER], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                        env=env, cwd=root)
        self.lines: queue.Queue = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.process.stdout:
            self.lines.put(line.decode().strip())
        self.lines.put("eof")

    def send(self, text: str) -> None:
        self.process.stdin.write((text + "\n").encode())
        self.process.stdin.flush()

    def expect(self, prefix: str, timeout: float = TIMEOUT_S) -> str:
        deadline = time.time() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.01, deadline - time.time()))
            except queue.Empty:
                raise AssertionError(f"no '{prefix}' line within {timeout}s") from None
            if line.startswith("error") or line == "eof":
                raise AssertionError(f"the worker failed while waiting for '{prefix}': {line}")
            if line.startswith(prefix):
                return line

    def close(self):
        self.process.stdin.close()
        self.process.wait(timeout=30)


@pytest.fixture(scope="module")
def server():
    s = Server()
    yield s
    s.close()


def _listed_latest_step(model_dir: str) -> int | None:
    state = checkpoint_state.read_state(model_dir)
    assert state.problem is None, state.problem
    return checkpoint_state.step_of(state.latest) if state.exists else None


def _assert_checkpoints_clean(model_dir: str) -> None:
    """Every listed checkpoint intact; no temp files, no unlisted checkpoint newer than the
    latest listed one, no partial unlisted checkpoint."""
    state = checkpoint_state.read_state(model_dir)
    assert state.problem is None, state.problem
    names = os.listdir(model_dir)
    if not state.exists:  # killed before its first checkpoint: nothing of one may be left
        assert not [n for n in names if "ckpt" in n or n.startswith("checkpoint")], names
        return
    for prefix in state.listed:
        assert checkpoint_state.problem_of(prefix) is None, (prefix, os.listdir(model_dir))
    listed = {os.path.basename(p) for p in state.listed}
    newest = max(checkpoint_state.step_of(p) for p in state.listed)
    leftovers = [n for n in names if "tempstate" in n or n.startswith("checkpoint.tmp")
                 or n.startswith(model_dir_lib.LOCK_NAME + ".")]
    assert not leftovers, leftovers
    for name in names:
        match = re.match(r"^(model\.ckpt-(\d+))\.index$", name)
        if match and match.group(1) not in listed:
            assert int(match.group(2)) < newest, (name, sorted(names))
            assert checkpoint_state.problem_of(os.path.join(model_dir, match.group(1))) is None


def _assert_exports_clean(base: str) -> None:
    names = os.listdir(base)
    assert not [n for n in names if not n.isdigit()], names
    for name in names:
        path = os.path.join(base, name)
        assert os.path.getsize(os.path.join(path, "saved_model.pb")) > 0, name
        assert os.path.exists(os.path.join(path, "variables", "variables.index")), name


def _run_trials(server: Server, kind: str, model_dir: str, marks: tuple, trials: int,
                seed: int) -> dict:
    rng = random.Random(seed)
    counts = {"random": 0, "targeted": 0, "finished": 0}
    for trial in range(trials + 1):  # the last child only verifies the state the others left
        expected = _listed_latest_step(model_dir) if kind != "export" else 0
        server.send(json.dumps({"kind": kind, "dir": model_dir}))
        pid = int(server.expect("pid").split()[1])
        begin = server.expect("begin")
        if kind != "export":
            assert int(begin.split()[1]) == (expected or 0), (trial, begin, expected)
            _assert_checkpoints_clean(model_dir)
        else:
            _assert_exports_clean(os.path.join(model_dir, "export", "latest"))
        server.send("go")
        server.expect("going")
        if trial == trials:
            os.kill(pid, signal.SIGKILL)
        elif rng.random() < 0.5:
            time.sleep(rng.uniform(0.0, 0.8))
            os.kill(pid, signal.SIGKILL)
            counts["random"] += 1
        else:
            mark = rng.choice(marks)
            for _ in range(rng.randint(1, 3)):
                server.expect(f"mark {mark}")
            time.sleep(rng.uniform(0.0, 0.02))
            os.kill(pid, signal.SIGKILL)
            counts["targeted"] += 1
        status = int(server.expect("exit").split()[1])
        assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, status
    return counts


def test_sigkill_during_save_checkpoint_train_and_export(server, tmp_path):
    saves = str(tmp_path / "saves")
    counts = _run_trials(server, "save", saves, ("save",), TRIALS, seed=13)
    assert counts["random"] + counts["targeted"] == TRIALS
    assert _listed_latest_step(saves) > 0  # the trials made progress

    trained = str(tmp_path / "trained")
    _run_trials(server, "train", trained, ("save",), TRIALS, seed=14)
    assert _listed_latest_step(trained) is not None
    # Exports of the save trials' model_dir (which holds intact checkpoints).
    _run_trials(server, "export", saves, ("write", "delete"), TRIALS, seed=15)
    assert tf.train.latest_checkpoint(saves)


def test_two_processes_training_into_one_model_dir(server, tmp_path, caplog):
    """The second writer gets an error naming the first; once that one is killed, its lock is
    taken over with a warning and training resumes from its last checkpoint."""
    model_dir = str(tmp_path / "shared")
    server.send(json.dumps({"kind": "train", "dir": model_dir}))
    pid = int(server.expect("pid").split()[1])
    server.expect("begin")  # the child holds the lock, waiting for "go"
    server.send("go")
    server.expect("mark save")  # its first checkpoint (step 0) is being written
    estimator = Estimator(h.model_fn, model_dir=model_dir, config=RunConfig(tf_random_seed=1))
    with pytest.raises(model_dir_lib.ModelDirLockedError,
                       match=rf"being written by another process \(host {socket.gethostname()}, "
                             rf"pid {pid}, since \d{{4}}-.*keras_spec.lock"):
        estimator.train(h.input_fn(20, repeat=True), steps=3)
    os.kill(pid, signal.SIGKILL)
    server.expect("exit")
    resumed_from = _listed_latest_step(model_dir) or 0
    with caplog.at_level(logging.WARNING, logger="keras_spec"):
        estimator.train(h.input_fn(20, repeat=True), steps=3)
    assert any(f"pid {pid}" in r.getMessage() and "Taking over" in r.getMessage()
               for r in caplog.records)
    assert _listed_latest_step(model_dir) == resumed_from + 3
    _assert_checkpoints_clean(model_dir)

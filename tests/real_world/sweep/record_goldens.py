"""Record goldens.json: each sweep program run unchanged by tf.estimator 2.15 (run ONLY there).

    /work/tf215/bin/python tests/real_world/sweep/record_goldens.py [PROGRAM ...]

TF 2.15.1 + tensorflow-estimator 2.15.0. Each program runs in its own process, in a fresh
directory, exactly as written; logistic_regressor.py gets tf215_shim/ on its path (TF 2.15 has
no contrib ModelFnOps: the shim is contrib's own ModelFnOps -> EstimatorSpec translation).
Named programs are re-recorded; the others keep their golden. CI never runs this.
"""

import json
import os
import subprocess
import sys
import tempfile

import tensorflow as tf

HERE = os.path.dirname(os.path.abspath(__file__))
PROGRAMS = ("iris_custom_estimator", "official_mnist", "logistic_regressor", "mnist_tpu",
            "bert_classifier", "tf1_compat_wide_deep")
GOLDENS = os.path.join(HERE, "goldens.json")


def record(name, work):
    out = os.path.join(work, name + ".json")
    env = dict(os.environ, PYTHONPATH=os.path.join(HERE, "tf215_shim"))
    subprocess.run([sys.executable, os.path.join(HERE, name + ".py"), out,
                    os.path.join(work, name)], check=True, env=env, cwd=work)
    with open(out) as f:
        return json.load(f)


def main(names):
    assert tf.__version__.startswith("2.15"), "record with TF 2.15 + tensorflow-estimator 2.15"
    goldens = {}
    if os.path.exists(GOLDENS):
        with open(GOLDENS) as f:
            goldens = json.load(f)
    goldens["recorded_with"] = {"tensorflow": tf.__version__, "tensorflow_estimator": "2.15.0"}
    with tempfile.TemporaryDirectory() as work:
        for name in names or PROGRAMS:
            goldens[name] = record(name, work)
    with open(GOLDENS, "w") as f:
        json.dump(goldens, f, indent=1, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main(sys.argv[1:])

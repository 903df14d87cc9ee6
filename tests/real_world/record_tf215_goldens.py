"""Record the goldens of tests/real_world with tf.estimator 2.15 (run ONLY under TF 2.15).

    /work/tf215/bin/python tests/real_world/record_tf215_goldens.py

Runs tf215_script.py unchanged (TF 2.15.1 + tensorflow-estimator 2.15.0) and the
early-stopping cases with `tf.estimator` (three times: see below), and writes tf215_goldens.json next to this file. CI never runs this.
"""

import collections
import json
import os
import subprocess
import sys
import tempfile

import tensorflow as tf

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import early_stopping_cases  # noqa: E402


def main():
    assert tf.__version__.startswith("2.15"), "record with TF 2.15 + tensorflow-estimator 2.15"
    with tempfile.TemporaryDirectory() as work:
        out = os.path.join(work, "script.json")
        subprocess.run([sys.executable, os.path.join(HERE, "tf215_script.py"), out, work],
                       check=True)
        with open(out) as f:
            script = json.load(f)
        # tf.estimator's hooks fetch the global step next to the train op: the read races with
        # the increment (seen: 5, 5 and 12, 12), so a run can stop one step later. The golden
        # is each case's most frequent outcome over three runs.
        runs = [early_stopping_cases.run_cases(tf.estimator, os.path.join(work, f"cases{i}"))
                for i in range(3)]
        cases = {}
        for name in runs[0]:
            outcomes = collections.Counter(json.dumps(r[name], sort_keys=True) for r in runs)
            cases[name] = json.loads(outcomes.most_common(1)[0][0])
            cases[name]["agreeing_runs"] = outcomes.most_common(1)[0][1]
    golden = {"recorded_with": {"tensorflow": tf.__version__, "tensorflow_estimator": "2.15.0"},
              "script": script, "early_stopping_cases": cases}
    with open(os.path.join(HERE, "tf215_goldens.json"), "w") as f:
        json.dump(golden, f, indent=1, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()

"""`keras-spec doctor`: what a tf.estimator-era script needs changing for TF 2.21 / keras-spec.

Modules: `cli` (argument parsing; imports nothing heavy so `--help` is instant), `names`
(import-alias resolution over the user's ast), `static` (the rules), `coverage` (which
tf.estimator names the drop-in namespace `adapters.estimator` provides), `fix` (safe,
text-preserving rewrites), `dynamic` (runs the model_fn in a subprocess) and `probe` (what that
subprocess runs), `report` (findings as text or JSON). Nothing else in the project imports it.
"""

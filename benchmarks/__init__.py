"""Throughput benchmarks: SpecModel (TF1 and Keras-layer model_fns) against plain Keras 3, and
optionally the real tf.estimator. Run `python -m benchmarks.run --help`.

Modules, one job each: model_fns (TF-only model_fns + data, shared with the tf.estimator
script), models (workloads and implementations), measure (the clocks), report (ratios, table,
JSON, plot), isolated (one configuration in a fresh process), estimator_runner /
estimator_script (tf.estimator in another interpreter), run (the command).
"""

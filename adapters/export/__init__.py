"""SavedModel export from a PREDICT spec's export_outputs (`saved_model`): signatures with
tf.estimator's method names, atomic timestamped directories. See docs/architecture.md, "Export".
"""

"""Building tf.distribute strategies for keras-spec users (`strategies`): TPU when one is
attached, else what the machine has. See docs/architecture.md, "Distribution".
"""

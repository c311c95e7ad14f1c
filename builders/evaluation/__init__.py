"""Evaluation: the field's standard metrics on predictions against a config's ground truth."""

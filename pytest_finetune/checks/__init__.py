"""Reusable assertions for users' tests: collated shapes, loss decrease, metrics, padding
properties, and the Hypothesis strategies and profiles that drive the property checks."""

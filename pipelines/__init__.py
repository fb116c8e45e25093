"""Workflows: datasets, training and search runs, reports, export, and the `automl` command."""

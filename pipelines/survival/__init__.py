"""`automl survival`: what only the command does (reading the clinical CSV); the analysis is automl.survival."""

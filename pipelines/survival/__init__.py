"""`automl survival`: whole-slide survival analysis (seed 002 Ch. 7, issue #8)."""

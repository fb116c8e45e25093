"""Lamarckian evolutionary architecture search on Keras Tuner (seed 001 Ch. 7)."""

"""The engine: training, search strategies and optimizers, independent of any dataset."""

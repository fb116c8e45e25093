"""ResBuilder (seed 002 Ch. 4 and 6): grow residual nets by near-identity block insertion,
prune inserted blocks with LayerLasso, and resize widths with MorphNet to a FLOP budget."""

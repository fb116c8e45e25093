"""Default configs (YAML). Each value is commented with the seed and section it comes from."""

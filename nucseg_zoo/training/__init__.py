"""Training recipes and the training loop for zoo models."""

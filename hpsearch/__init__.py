"""hpsearch: hyperparameter-sensitivity studies for deep-learning optimizers."""

__version__ = "0.1.0"

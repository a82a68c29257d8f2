"""What a metric's name says about it: the one place that reads `<split>_<measure>` names.

Accuracies (`test_accuracy`, ...) are maximised, lie in [0, 1] and have a chance level (1/K for
K classes); everything else (losses, perplexities) is minimised. Light on purpose: the analysis,
the exports and the dashboards ask it without importing the tasks (and with them torch).
"""

from __future__ import annotations

from typing import Literal


def is_accuracy(metric: str) -> bool:
    """A share of correct predictions: maximised, in [0, 1], with a chance level."""
    return metric.endswith("accuracy")


def metric_direction(metric: str) -> Literal["maximize", "minimize"]:
    """Accuracy is maximised; losses and perplexities are minimised."""
    return "maximize" if is_accuracy(metric) else "minimize"

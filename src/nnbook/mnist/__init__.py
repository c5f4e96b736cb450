"""Part 2: the class notes' MNIST network, its data pipeline and its trainer."""

from nnbook.mnist.data import MNISTDataError, load
from nnbook.mnist.networks.net import Net
from nnbook.mnist.recipes import CLASS_RECIPE, DEFAULT_RECIPE, Recipe
from nnbook.mnist.trainer import FitOptions, evaluate, fit

__all__ = [
    "CLASS_RECIPE",
    "DEFAULT_RECIPE",
    "FitOptions",
    "MNISTDataError",
    "Net",
    "Recipe",
    "evaluate",
    "fit",
    "load",
]

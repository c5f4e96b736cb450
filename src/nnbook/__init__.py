"""nnbook: the computations behind the book on backpropagation and small convolutional networks."""

__version__ = "0.1.0"

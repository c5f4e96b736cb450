"""Training runs whose accuracies the chapters quote: each appends them to ``--record PATH``."""

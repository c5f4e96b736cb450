"""The class assignment for the MNIST network: one place for its targets.

The book, the tests and ``bench/`` read these; no chapter types them again.
"""

#: Test accuracy the final epoch must reach.
TARGET_ACCURACY = 0.994
#: The network must have fewer trainable parameters than this.
MAX_PARAMETERS = 20_000
#: ... and reach the target in fewer epochs than this.
MAX_EPOCHS = 20
#: The seed of the book's run, unless ``NNBOOK_SEED`` names another.
DEFAULT_SEED = 1
SEED_VARIABLE = "NNBOOK_SEED"

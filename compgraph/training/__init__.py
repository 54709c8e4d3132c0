"""The training behind ``compgraph train``: data, model, optimizer, checkpoints, curves.

``train(TrainConfig(...))`` trains one of the built-in recipes and returns a TrainResult. Every
epoch shows a progress bar (tqdm if installed, else one line per epoch) with the loss and
accuracy, then the weights are saved atomically (safetensors, with the optimizer state in a
``.optim`` file beside them), so Ctrl-C at any point keeps the last complete epoch and
``TrainConfig(resume=FILE)`` continues exactly where it stopped. The run ends by printing
``test accuracy: 0.XXXX`` and, with matplotlib installed, drawing the curves (and for the
spiral data the decision boundary) to a PNG.

- ``config.py``: TrainConfig, the recipes and their defaults, resolving a config.
- ``build.py``: the datasets and the model a config names.
- ``checkpoint.py``: the files a run saves and resumes from.
- ``loop.py``: ``train`` itself (start, epochs, finish) and ``evaluate``.
- ``parallel.py``: data-parallel training when launched by ``mpiexec -n N`` (``--batch-size``
  stays the global batch; rank 0 alone reads checkpoints, writes and prints).

>>> result = train(TrainConfig(save=None, plot=None, progress=False))  # doctest: +SKIP
train accuracy: 0.9889
test accuracy: 0.9833
"""

from compgraph.training.build import SPIRAL_POINTS, build_model, load_data
from compgraph.training.checkpoint import optimizer_state_path, read_checkpoint
from compgraph.training.config import (
    AUTO,
    DATASETS,
    DTYPES,
    MNIST_SPLITS,
    MODELS,
    OPTIMIZERS,
    RECIPES,
    TrainConfig,
)
from compgraph.training.loop import TrainResult, evaluate, train

__all__ = [
    "AUTO",
    "DATASETS",
    "DTYPES",
    "MNIST_SPLITS",
    "MODELS",
    "OPTIMIZERS",
    "RECIPES",
    "SPIRAL_POINTS",
    "TrainConfig",
    "TrainResult",
    "build_model",
    "evaluate",
    "load_data",
    "optimizer_state_path",
    "read_checkpoint",
    "train",
]

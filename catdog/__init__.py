"""catdog: build, train, explain and serve binary image classifiers (cats vs dogs by default).

The core never imports Streamlit; TensorFlow is imported only by the modules that need it.
"""

import os

# TensorFlow's C++ start-up chatter (CUDA probing, oneDNN notes) is noise for our users.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
# oneDNN's kernels train the CNNs faster on CPUs where TensorFlow leaves them off by default
# (README, "Speed"); set before TensorFlow is imported, a user's own setting wins. The benchmark
# runs the tutorial's code with TensorFlow's default, the value found here.
ONEDNN_SETTING_FOUND = os.environ.get("TF_ENABLE_ONEDNN_OPTS")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

from catdog.config import RunConfig  # noqa: E402
from catdog.errors import CatdogError  # noqa: E402

__all__ = ["CatdogError", "RunConfig"]
__version__ = "0.1.0"

"""catdog: build, train, explain and serve binary image classifiers (cats vs dogs by default).

The core never imports Streamlit; TensorFlow is imported only by the modules that need it.
"""

import os

# TensorFlow's C++ start-up chatter (CUDA probing, oneDNN notes) is noise for our users.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

from catdog.config import CatdogError, RunConfig  # noqa: E402

__all__ = ["CatdogError", "RunConfig"]
__version__ = "0.1.0"

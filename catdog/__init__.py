"""catdog: build, train, explain and serve binary image classifiers (cats vs dogs by default).

The core never imports Streamlit; TensorFlow is imported only by the modules that need it.
"""

import os

# TensorFlow's C++ start-up chatter (CUDA probing, oneDNN notes) is noise for our users.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
# TensorFlow turns its oneDNN kernels on by itself only on CPUs with AVX-512 and the like; on the
# rest (AVX2 laptops, AMD EPYC) they trained Models 1-3 1.2-1.45x faster per step (2-core EPYC,
# see README: Speed). Set before TensorFlow is imported; an explicit setting of the user wins.
# The benchmark runs the tutorial's own code with TensorFlow's default (the value found here).
ONEDNN_SETTING_FOUND = os.environ.get("TF_ENABLE_ONEDNN_OPTS")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

from catdog.config import RunConfig  # noqa: E402
from catdog.errors import CatdogError  # noqa: E402

__all__ = ["CatdogError", "RunConfig"]
__version__ = "0.1.0"

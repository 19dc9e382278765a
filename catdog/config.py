"""A run's settings: one frozen dataclass, saved as `config.json` with every run and read back by
`python -m catdog train --config FILE`.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from catdog.augment import FLIP_MODES
from catdog.errors import CatdogError
from catdog.models import COMPUTE_PRECISIONS, MODELS, ModelSpec

PRECISIONS = ("auto", *COMPUTE_PRECISIONS)
STRATEGIES = ("default", "mirrored", "multi-worker")
FEATURE_PRECISIONS = ("auto", "float32", "int8")


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """Everything needed to repeat, reload and compare one training run."""

    model: str = "model4"  # key in catdog.models.MODELS
    epochs: int = 20  # the tutorial trains every model for 20 epochs
    batch_size: int = 32  # the tutorial's BATCH_SIZE
    # None: the model's own (catdog.models; 0.001, Keras' Adam default, for the tutorial's models).
    learning_rate: float | None = None
    image_size: tuple[int, int] = (160, 160)  # (height, width), the tutorial's IMG_SIZE
    seed: int = 0  # drives shuffling, the validation/test split and augmentation
    data: str | None = None  # dataset folder; None means the tutorial's download
    # Frozen-base models (Model 4) train their head on features computed once instead of
    # running the frozen network every epoch; same function, far less work (see train.py).
    fast: bool = True
    # The frozen base on LiteRT for those features: "int8" quantized after training, calibrated on
    # training images (faster, features close to float32's), or "float32"; "auto": int8 on CPUs
    # with int8 dot products (see features.feature_precision). TensorFlow (a GPU) runs float32.
    feature_precision: str = "auto"
    # None keeps the model's own augmentation (as in the tutorial); a value overrides it.
    flip: str | None = None
    rotation: float | None = None  # fraction of a full turn, as in keras.layers.RandomRotation
    early_stopping: int = 0  # patience in epochs; 0 = off (the tutorial has none)
    # Transfer models: a second stage with the top of the base unfrozen (TensorFlow's transfer-learning
    # tutorial): layers from `fine_tune_from` on train at `fine_tune_learning_rate`, by default a
    # tenth of the learning rate.
    fine_tune_epochs: int = 0
    fine_tune_from: int = 100
    fine_tune_learning_rate: float | None = None
    pretrained: bool = True  # ImageNet weights for transfer models; False = random (fast tests)
    # "auto": bfloat16 compute where it is faster at the same accuracy (see
    # models.training_precision), float32 elsewhere; or force "float32" / "mixed_bfloat16".
    precision: str = "auto"
    # "default": TensorFlow's own placement (the GPU when there is one); "mirrored": data-parallel
    # on every GPU of the machine (tf.distribute.MirroredStrategy); "multi-worker": data-parallel
    # over several machines, set by TF_CONFIG (tf.distribute.MultiWorkerMirroredStrategy).
    strategy: str = "default"

    @property
    def fine_tune_rate(self) -> float:
        """The fine-tuning stage's learning rate: as set, or a tenth of the first stage's."""
        return self.fine_tune_learning_rate if self.fine_tune_learning_rate is not None else self.learning_rate / 10

    def __post_init__(self):
        # Lists come back from JSON; keep the dataclass hashable and comparable.
        object.__setattr__(self, "image_size", tuple(int(v) for v in self.image_size))
        if self.learning_rate is None:
            object.__setattr__(self, "learning_rate", MODELS.get(self.model, ModelSpec).learning_rate)
        if not isinstance(self.epochs, int) or self.epochs < 1:
            raise CatdogError(f"epochs must be a whole number of at least 1, got {self.epochs!r}.")
        if not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise CatdogError(f"batch size must be a whole number of at least 1, got {self.batch_size!r}.")
        if not (0 < float(self.learning_rate) <= 1):
            raise CatdogError(f"learning rate must be above 0 and at most 1, got {self.learning_rate!r}.")
        if len(self.image_size) != 2 or min(self.image_size) < 8:
            raise CatdogError(f"image size must be two sides of at least 8 pixels, got {self.image_size}.")
        if self.flip is not None and self.flip not in FLIP_MODES:
            raise CatdogError(f"flip must be one of {', '.join(FLIP_MODES)}; got {self.flip!r}.")
        if self.rotation is not None and not (0 <= float(self.rotation) <= 0.5):
            raise CatdogError(f"rotation must be between 0 and 0.5 of a turn, got {self.rotation!r}.")
        if self.fine_tune_epochs < 0 or self.fine_tune_from < 0:
            raise CatdogError("fine-tuning epochs and first layer cannot be negative.")
        if self.fine_tune_learning_rate is not None and not (0 < float(self.fine_tune_learning_rate) <= 1):
            raise CatdogError(f"fine-tuning learning rate must be above 0 and at most 1, got {self.fine_tune_learning_rate!r}.")
        if self.feature_precision not in FEATURE_PRECISIONS:
            raise CatdogError(
                f"feature precision must be one of {', '.join(FEATURE_PRECISIONS)}; got {self.feature_precision!r}."
            )
        if self.early_stopping < 0:
            raise CatdogError("early stopping patience cannot be negative.")
        if self.precision not in PRECISIONS:
            raise CatdogError(f"precision must be one of {', '.join(PRECISIONS)}; got {self.precision!r}.")
        if self.strategy not in STRATEGIES:
            raise CatdogError(f"strategy must be one of {', '.join(STRATEGIES)}; got {self.strategy!r}.")

    @property
    def total_epochs(self) -> int:
        """Epochs the run trains in all: a frozen-base model's fine-tuning stage included."""
        spec = MODELS.get(self.model)
        return self.epochs + (self.fine_tune_epochs if spec is not None and spec.frozen_base else 0)

    def to_dict(self) -> dict:
        """The settings as plain JSON-ready values."""
        values = dataclasses.asdict(self)
        values["image_size"] = list(self.image_size)
        return values

    @classmethod
    def from_dict(cls, values: dict) -> RunConfig:
        """Rebuild settings saved by `to_dict`, ignoring keys from newer versions."""
        known = {field.name for field in dataclasses.fields(cls)}
        return cls(**{key: value for key, value in values.items() if key in known})

    def replace(self, **changes) -> RunConfig:
        """A copy with some settings changed (validated like a new one)."""
        return dataclasses.replace(self, **changes)

    @classmethod
    def load(cls, path: str | Path, **overrides) -> RunConfig:
        """Settings from a JSON file (a run's `config.json`, or an object of RunConfig fields),
        with `overrides` (field: value) taking the place of what the file says."""
        try:
            values = json.loads(Path(path).expanduser().read_text())
        except FileNotFoundError:
            raise CatdogError(f"no such settings file: {path}; pass a run's config.json or a JSON file of settings.") from None
        except (OSError, ValueError) as error:
            raise CatdogError(f"cannot read the settings in {path} ({error}); pass a JSON object of RunConfig fields.") from None
        if isinstance(values, dict) and isinstance(values.get("config"), dict):
            values = values["config"]  # a run's config.json: {"config": {...}, "class_names": [...]}
        if not isinstance(values, dict):
            raise CatdogError(f"{path} does not hold a JSON object of settings; see a run's config.json for the format.")
        unknown = sorted(set(values) - {field.name for field in dataclasses.fields(cls)})
        if unknown:
            raise CatdogError(f"{path} has settings catdog does not know: {', '.join(unknown)}; remove them.")
        try:
            return cls(**{**values, **overrides})
        except TypeError as error:
            raise CatdogError(f"the settings in {path} are not valid ({error}).") from None

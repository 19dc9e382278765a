"""The Train page's settings form, and the one home of its widget keys.

    train_form.apply_handed_settings()          # first thing on the Train page
    config = train_form.settings_form(dataset, training_active)   # a RunConfig once Start is clicked

Another page that wants a training repeated hands its settings over as one value,
`st.session_state[state.TRAIN_SETTINGS] = config.to_dict()`, and switches to the Train page.
"""

from __future__ import annotations

import streamlit as st

from catdog.augment import FLIP_MODES, rotation_degrees
from catdog.config import FEATURE_PRECISIONS, PRECISIONS, RunConfig
from catdog.data import Dataset
from catdog.models import MODELS
from catdog.ui import inference, state

BATCH_SIZES = [8, 16, 32, 64, 128]
IMAGE_SIDES = [32, 64, 96, 128, 160, 192, 224]
LEARNING_RATES = [1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1]
FINE_TUNE_RATES = [None, 1e-6, 3e-6, 1e-5, 3e-5, 1e-4, 3e-4]
MOBILENET_LAYERS = 154  # the last layer a fine-tuning stage can start unfreezing from
PRECISION_LABELS = {
    "auto": "auto: bfloat16 where measured faster here",
    "float32": "float32",
    "mixed_bfloat16": "mixed bfloat16",
}
FEATURE_PRECISION_LABELS = {
    "auto": "auto: int8 on CPUs with VNNI",
    "float32": "float32 (exact)",
    "int8": "int8 (quantized, faster)",
}
# Several machines need TF_CONFIG and a process on each (README, "More data, more GPUs"): the command line's.
STRATEGY_LABELS = {"default": "default: one GPU if there is one", "mirrored": "every GPU of this machine"}


def apply_handed_settings() -> None:
    """Put settings handed over by another page into this form's widgets, once."""
    values = st.session_state.pop(state.TRAIN_SETTINGS, None)
    if values is None:
        return
    config = RunConfig.from_dict(values)
    spec = MODELS.get(config.model)
    if spec is None:  # a run of a model this version no longer has: keep the form as it is
        return
    st.session_state.update(
        {
            "train_model": config.model,
            "train_epochs": config.epochs,
            "train_batch_size": config.batch_size,
            _rate_key(config.model): config.learning_rate,
            "train_image_size": config.image_size[0],
            "train_seed": config.seed,
            "train_patience": config.early_stopping,
            "train_fast": config.fast,
            "train_feature_precision": config.feature_precision,
            "train_precision": config.precision,
            "train_strategy": config.strategy if config.strategy in STRATEGY_LABELS else "default",
            "train_fine_tune_epochs": config.fine_tune_epochs,
            "train_fine_tune_from": config.fine_tune_from,
            "train_fine_tune_rate": config.fine_tune_learning_rate,
            _flip_key(config.model): config.flip or spec.flip,
            _rotation_key(config.model): float(config.rotation if config.rotation is not None else spec.rotation),
        }
    )


def settings_form(dataset: Dataset, training_active: bool) -> RunConfig | None:
    """The settings of a new training on `dataset` and its Start button (which queues while
    `training_active`): the chosen settings once Start is clicked, else None."""
    defaults = RunConfig()
    keys = list(MODELS)
    model = st.selectbox(
        "Model",
        keys,
        index=keys.index(defaults.model),
        format_func=lambda key: MODELS[key].title,
        key="train_model",
        persist_state="session",
    )
    spec = MODELS[model]
    about = st.empty()  # filled below, once the image size (which sets the parameter count) is known
    first, second, third, fourth = st.columns(4)
    epochs = first.number_input("Epochs", 1, 500, defaults.epochs, key="train_epochs", persist_state="session")
    batch_size = second.selectbox(
        "Batch size",
        BATCH_SIZES,
        index=BATCH_SIZES.index(defaults.batch_size),
        key="train_batch_size",
        persist_state="session",
    )
    # One slider per model, starting at the model's own rate; a rate handed over from a run joins the stops.
    rate_key = _rate_key(model)
    rates = sorted({*LEARNING_RATES, spec.learning_rate, st.session_state.get(rate_key, spec.learning_rate)})
    learning_rate = third.select_slider(
        "Learning rate",
        rates,
        value=spec.learning_rate,
        format_func=lambda rate: f"{rate:g}",
        key=rate_key,
        persist_state="session",
    )
    side = fourth.selectbox(
        "Image size",
        IMAGE_SIDES,
        index=IMAGE_SIDES.index(defaults.image_size[0]),
        format_func=lambda side: f"{side}×{side}",
        key="train_image_size",
        persist_state="session",
    )
    if spec.frozen_base and side == 160:
        fourth.caption("192×192 classified better: 98.6% validation after 10 epochs on the tutorial data, against 97.8% at 160")
    with st.expander("More settings"):
        seed = st.number_input(
            "Seed (shuffling, validation/test split, augmentation)", 0, 2**31 - 1, defaults.seed, key="train_seed"
        )
        patience = st.number_input(
            "Early stopping: epochs without improvement before stopping (0 = off)",
            0,
            100,
            defaults.early_stopping,
            key="train_patience",
        )
        fast = st.checkbox(
            "Frozen base: compute its features once instead of every epoch (same result, far faster)",
            value=defaults.fast,
            disabled=not spec.frozen_base,
            key="train_fast",
        )
        left, right = st.columns(2)
        fine_tune_epochs = left.number_input(
            "Fine-tuning epochs after the first stage (0 = off)",
            0,
            100,
            defaults.fine_tune_epochs,
            disabled=not spec.frozen_base,
            key="train_fine_tune_epochs",
            help="A second stage: the pretrained base is unfrozen from the layer on the right and trains "
            "with the head at a tenth of the learning rate (BatchNorm stays in inference mode).",
        )
        fine_tune_from = right.number_input(
            "Unfreeze the base from layer",
            0,
            MOBILENET_LAYERS,
            defaults.fine_tune_from,
            disabled=not spec.frozen_base,
            key="train_fine_tune_from",
        )
        fine_tune_rate = left.selectbox(
            "Fine-tuning learning rate",
            FINE_TUNE_RATES,
            format_func=lambda rate: "a tenth of the learning rate" if rate is None else f"{rate:g}",
            disabled=not spec.frozen_base,
            key="train_fine_tune_rate",
        )
        left, middle, right = st.columns(3)
        precision = left.selectbox(
            "Arithmetic",
            PRECISIONS,
            format_func=PRECISION_LABELS.get,
            key="train_precision",
            help=(
                "auto trains this model in mixed bfloat16 only on a CPU where a first training measured "
                "bfloat16 faster than float32, and in float32 everywhere else."
                if spec.cpu_bfloat16
                else "auto trains this model in float32: it is not registered for bfloat16."
            )
            + " The saved model is float32 either way.",
        )
        feature_precision = middle.selectbox(
            "Frozen base's features",
            FEATURE_PRECISIONS,
            format_func=FEATURE_PRECISION_LABELS.get,
            disabled=not (spec.frozen_base and fast),
            key="train_feature_precision",
            help="On the fast path the frozen base runs on LiteRT. int8 quantizes it once, calibrated on a few "
            "training images: faster on CPUs with int8 dot products (VNNI), with features close to float32's "
            '(README, "Speed"). Each choice has its own feature cache.',
        )
        strategy = right.selectbox(
            "Devices",
            list(STRATEGY_LABELS),
            format_func=STRATEGY_LABELS.get,
            key="train_strategy",
            help="Every GPU: the model is copied to each GPU and each batch split between them "
            "(tf.distribute.MirroredStrategy); the batch size is all GPUs' together. Without GPUs, the same as default.",
        )
        # One widget per model, so each model starts from its own augmentation (the tutorial's).
        left, right = st.columns(2)
        flip = left.selectbox("Random flip", FLIP_MODES, index=FLIP_MODES.index(spec.flip), key=_flip_key(model))
        rotation = right.slider(
            "Random rotation (fraction of a full turn)", 0.0, 0.5, float(spec.rotation), 0.01, key=_rotation_key(model)
        )
        right.caption(
            f"up to ±{rotation_degrees(rotation):.0f}°"
            + (" · not replayed on the frozen-base fast path" if spec.frozen_base and fast and rotation else "")
        )

    count = inference.parameter_count(model, (side, side), len(dataset.class_names))
    if count["error"]:
        about.error(count["error"])
    else:
        reported = (
            f" · the tutorial reports {spec.tutorial_val_accuracy:.1%} validation accuracy after 20 epochs"
            if spec.tutorial_val_accuracy
            else ""
        )
        about.caption(f"{spec.description} · {count['total']:,} parameters, {count['trainable']:,} trainable{reported}")

    if training_active:
        st.caption("A training is running: yours joins the queue and starts by itself when its turn comes.")
    started = st.button(
        "Add to the queue" if training_active else "Start training",
        type="primary",
        icon=":material/queue:" if training_active else ":material/play_arrow:",
        disabled=bool(count["error"]),
        key="train_start",
    )
    if not started:
        return None
    with state.reported_errors():
        return RunConfig(
            model=model,
            epochs=int(epochs),
            batch_size=int(batch_size),
            learning_rate=float(learning_rate),
            image_size=(side, side),
            seed=int(seed),
            early_stopping=int(patience),
            fast=bool(fast),
            feature_precision=feature_precision,
            precision=precision,
            strategy=strategy,
            fine_tune_epochs=int(fine_tune_epochs) if spec.frozen_base else 0,
            fine_tune_from=int(fine_tune_from),
            fine_tune_learning_rate=fine_tune_rate,
            flip=flip,
            rotation=float(rotation),
            data=str(dataset.root),
        )
    return None


def _rate_key(model: str) -> str:
    return f"train_learning_rate_{model}"


def _flip_key(model: str) -> str:
    return f"train_flip_{model}"


def _rotation_key(model: str) -> str:
    return f"train_rotation_{model}"

"""Reproduce the tutorial: train its four models with its settings and compare with what it reported.

    rows = reproduce_tutorial(data)   # python -m catdog reproduce

catdog's side only; `python -m catdog bench` times the tutorial's own code against it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from catdog import runs
from catdog.config import RunConfig
from catdog.data import load_dataset
from catdog.evaluate import evaluate
from catdog.models import TUTORIAL_MODELS, get_spec
from catdog.train import TrainingProgress, train


def reproduce_tutorial(
    data: str | Path | None = None,
    epochs: int = 20,
    models: tuple[str, ...] = TUTORIAL_MODELS,
    fast: bool = True,
    runs_root: str | Path | None = None,
    progress: Callable[[TrainingProgress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> list[dict]:
    """Train the tutorial's models with its settings and compare with what it reported.

    Returns:
        One row per model: the tutorial's final validation accuracy, ours, our test accuracy
        (on the fixed test split) and the wall time.
    """
    dataset = load_dataset(data, batch_size=RunConfig().batch_size, seed=RunConfig().seed)
    rows = []
    for key in models:
        config = RunConfig(model=key, epochs=epochs, data=None if data is None else str(data), fast=fast)
        run = train(config, dataset=dataset, runs_root=runs_root, progress=progress, should_stop=should_stop)
        row = {
            "model": key,
            "title": get_spec(key).title,
            "tutorial_val_accuracy": get_spec(key).tutorial_val_accuracy,
            "val_accuracy": run.final("val_accuracy"),
            "epochs": len(run.history),
            "seconds": run.status.get("seconds"),
            "run_dir": str(run.path),
        }
        if run.has_model:
            summary = evaluate(run, dataset).summary()
            runs.save_evaluation(run, summary)
            row["test_accuracy"] = summary["test_accuracy"]
        rows.append(row)
        if run.state == runs.STOPPED:
            break
    return rows

"""The embedding map's projection: UMAP for real datasets, PCA for tiny ones or without umap-learn."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from catdog import embedding


def clusters(count: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = np.arange(count) % 2
    return rng.normal(0, 1, (2, 64))[labels] * 6 + rng.normal(0, 1, (count, 64)), labels


def separated(points: np.ndarray, labels: np.ndarray) -> bool:
    """Each point is nearer its own class's centre than the other's."""
    centres = np.stack([points[labels == label].mean(axis=0) for label in (0, 1)])
    nearest = np.linalg.norm(points[:, None] - centres[None], axis=2).argmin(axis=1)
    return bool((nearest == labels).all())


def test_a_tiny_set_is_drawn_with_pca_and_keeps_its_classes_apart():
    vectors, labels = clusters(60)
    points, method = embedding.project(vectors)
    assert method == "PCA" and points.shape == (60, 2) and separated(points, labels)
    assert embedding.project(vectors[:1])[0].shape == (1, 2)


def test_without_umap_learn_pca_is_the_fallback(monkeypatch):
    monkeypatch.setitem(sys.modules, "umap", None)  # import umap now raises ImportError
    vectors, _ = clusters(embedding.UMAP_MIN_IMAGES + 10)
    assert embedding.project(vectors)[1] == "PCA"
    with pytest.raises(ValueError, match="umap-learn"):
        embedding.project(vectors, method="umap")


@pytest.mark.slow
def test_umap_keeps_classes_apart_and_the_map_is_kept_on_disk(monkeypatch):
    vectors, labels = clusters(embedding.UMAP_MIN_IMAGES + 50)
    points, method = embedding.cached_projection(vectors)
    assert method == "UMAP" and points.shape == (len(vectors), 2) and separated(points, labels)
    monkeypatch.setattr(embedding, "project", lambda *args: pytest.fail("projected again"))
    again, method_again = embedding.cached_projection(vectors)
    assert method_again == "UMAP" and np.array_equal(again, points)

"""The embedding map: a dataset's frozen-base features (`catdog.health`) projected to 2-D.

    points, method = project(features.vectors)   # (images, 2), "UMAP" or "PCA"
    points, method = cached_projection(features.vectors)   # the same, kept on disk

UMAP keeps neighbourhoods (similar photos land together, clusters of a class show), which is
what a person scans the map for; PCA is the fallback when umap-learn is missing or the set is too
small for UMAP's neighbour graph. The features are reduced to `PCA_DIMENSIONS` first, as UMAP's
own documentation advises for wide features: faster, and the map barely changes. UMAP takes
tens of seconds on thousands of images (and compiles its code on first use), so
`cached_projection` keeps each map under `$CATDOG_CACHE_DIR/embedding`.
"""

from __future__ import annotations

import hashlib
import io
import warnings

import numpy as np

from catdog.paths import cache_dir, write_bytes_atomic

UMAP_MIN_IMAGES = 200  # below this PCA shows as much, with nothing to compile
UMAP_NEIGHBOURS = 15  # umap-learn's default
PCA_DIMENSIONS = 50


def project(vectors: np.ndarray, method: str = "auto", seed: int = 0) -> tuple[np.ndarray, str]:
    """2-D coordinates of each row of `vectors`, and the method that made them.

    Args:
        vectors: (images, dims) features.
        method: "umap", "pca", or "auto" (default): UMAP when umap-learn is installed and there
            are at least `UMAP_MIN_IMAGES` images, else PCA.
        seed: fixes UMAP's layout (the same map every time for the same features).

    Returns:
        ((images, 2) float32 coordinates, "UMAP" or "PCA").
    """
    vectors = np.asarray(vectors, np.float32)
    if method not in ("auto", "umap", "pca"):
        raise ValueError(f"method must be auto, umap or pca; got {method!r}.")
    if len(vectors) < 3:
        return np.zeros((len(vectors), 2), np.float32), "PCA"  # nothing to spread out
    if method != "pca" and len(vectors) >= UMAP_MIN_IMAGES and _umap_available():
        return _umap(vectors, seed), "UMAP"
    if method == "umap":
        raise ValueError(f"UMAP needs umap-learn and at least {UMAP_MIN_IMAGES} images.")
    return _pca(vectors, 2, seed), "PCA"


def cached_projection(vectors: np.ndarray, method: str = "auto", seed: int = 0) -> tuple[np.ndarray, str]:
    """`project`, read from the cache when these very features were projected before."""
    vectors = np.ascontiguousarray(vectors, np.float32)
    digest = hashlib.sha256(repr((vectors.shape, method, seed, UMAP_NEIGHBOURS, PCA_DIMENSIONS)).encode())
    digest.update(vectors.tobytes())
    path = cache_dir() / "embedding" / f"{digest.hexdigest()[:32]}.npz"
    try:
        with np.load(path) as saved:
            return saved["points"], str(saved["method"])
    except (OSError, ValueError, KeyError):
        pass  # not there yet, or damaged: projected again
    points, used = project(vectors, method, seed)
    buffer = io.BytesIO()
    np.savez(buffer, points=points, method=np.array(used))
    path.parent.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(path, buffer.getvalue())
    return points, used


def _umap(vectors: np.ndarray, seed: int) -> np.ndarray:
    import umap

    reduced = _pca(vectors, PCA_DIMENSIONS, seed) if vectors.shape[1] > PCA_DIMENSIONS else vectors
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*n_jobs value.*")  # a fixed seed means one thread: expected
        reducer = umap.UMAP(n_neighbors=UMAP_NEIGHBOURS, n_components=2, metric="cosine", random_state=seed)
        return reducer.fit_transform(reduced).astype(np.float32)


def _pca(vectors: np.ndarray, dimensions: int, seed: int) -> np.ndarray:
    from sklearn.decomposition import PCA

    dimensions = min(dimensions, *vectors.shape)
    points = PCA(n_components=dimensions, random_state=seed).fit_transform(vectors)
    if points.shape[1] < 2:  # one image or one feature: a line, drawn flat
        points = np.pad(points, ((0, 0), (0, 2 - points.shape[1])))
    return points.astype(np.float32)


def _umap_available() -> bool:
    try:
        import umap  # noqa: F401
    except ImportError:
        return False
    return True

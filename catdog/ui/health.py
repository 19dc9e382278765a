"""The Data health page's pieces: the check (with a progress bar the first time), the galleries
with their "leave out of training" boxes, and the embedding map with its selection gallery."""

from __future__ import annotations

import hashlib
import os
import time

import streamlit as st
from PIL import Image

from catdog import embedding, exclusions
from catdog.config import RunConfig
from catdog.data import Dataset
from catdog.errors import CatdogError
from catdog.health import HealthReport, ImageFeatures, check_health
from catdog.images import load_image
from catdog.ui import health_charts

GALLERY_COLUMNS = 4
GALLERY_PAGE = 24  # images shown at first; a slider shows more
KEPT_DATASETS = 4  # checked datasets kept in memory by the server
FLAG_NAMES = {"label": "label error", "duplicate": "duplicate", "outlier": "outlier"}


def health_for(dataset: Dataset) -> tuple[HealthReport, ImageFeatures]:
    """The dataset's health report and features, checked once per server and dataset.

    The first check of a dataset computes (or reads from the cache) Model 4's features of every
    image, with a progress bar and the time left; later reruns take the kept result. The key is
    every image of the dataset (those left out of training too), so marking images does not
    start a new check, while adding or removing files does.
    """
    everything = sorted(
        {*dataset.excluded, *(path for name in ("train", "validation", "test") for path in dataset.split(name).paths)}
    )
    key = (str(dataset.root), hashlib.sha256("\n".join(everything).encode()).hexdigest())
    kept = _results()
    if key not in kept:
        bar = st.progress(0.0, text="Checking the dataset…")

        def progress(done, total, seconds_left, message):
            if total:
                left = f", about {seconds_left:.0f}s left" if seconds_left is not None else ""
                bar.progress(min(done / total, 1.0), text=f"{message}: batch {done} of {total}{left}")
            else:
                bar.progress(0.0 if "features" in message else 1.0, text=f"{message}…")

        result = check_health(config=RunConfig(model="model4", data=str(dataset.root)), progress=progress)
        while len(kept) >= KEPT_DATASETS:  # the oldest goes: a dataset's features are tens of MB
            kept.pop(next(iter(kept)))
        kept[key] = result
        bar.empty()
    return kept[key]


def summary(report: HealthReport) -> None:
    """The counts, side by side."""
    cross = sum(pair["cross_split"] for pair in report.duplicates)
    columns = st.columns(5)
    columns[0].metric("Images", report.images)
    columns[1].metric("Likely label errors", len(report.label_issues))
    columns[2].metric(
        "Near-duplicate pairs", len(report.duplicates), f"{cross} across splits", delta_color="off", delta_arrow="off"
    )
    columns[3].metric("Outliers", len(report.outliers))
    columns[4].metric("Left out of training", len(exclusions.load(report.root)))
    st.caption(
        f"Judged on Model 4's frozen MobileNetV2 features in {report.seconds:.1f}s. Nothing here changes your files: "
        "“Leave out of training” keeps a list in catdog's own files, and training and evaluation skip those images."
    )


def label_issue_gallery(report: HealthReport) -> None:
    if not report.label_issues:
        st.success("No likely label errors: every image looks like its class to a model that never saw it.")
        return
    st.caption(
        "Out-of-fold predictions (each image judged by a model trained without it), ranked by cleanlab. "
        "Score: how sure that model is the given class is wrong."
    )
    shown = _how_many(len(report.label_issues), "health_label_count")
    _gallery(
        report.root,
        [
            (
                item["path"],
                f"given **{item['given']}**, looks like **{item['suggested']}** · {item['score']:.2f} · {item['split']}",
            )
            for item in report.label_issues[:shown]
        ],
        "label",
    )


def duplicate_gallery(report: HealthReport) -> None:
    if not report.duplicates:
        st.success("No near-duplicates: no two images are the same photo (re-saved, resized or mirrored).")
        return
    st.caption("Pairs of the same photo, those across splits first: a test image also in training inflates its accuracy.")
    shown = _how_many(len(report.duplicates), "health_duplicate_count")
    for number, pair in enumerate(report.duplicates[:shown]):
        where = f"both in {pair['splits'][0]}" if not pair["cross_split"] else " and ".join(pair["splits"])
        warning = " — **across splits**" if pair["cross_split"] else ""
        st.markdown(f"Similarity {pair['similarity']:.3f}, {where}{warning}")
        names = [os.path.relpath(path, report.root) for path in pair["paths"]]
        _gallery(report.root, list(zip(pair["paths"], names)), f"duplicate_{number}")


def outlier_gallery(report: HealthReport) -> None:
    if not report.outliers:
        st.success("No outliers: every image has close neighbours among the others.")
        return
    st.caption(
        "Images far from all the others (perhaps neither class). Score: distance to the nearest images, times a typical one."
    )
    shown = _how_many(len(report.outliers), "health_outlier_count")
    _gallery(
        report.root,
        [(item["path"], f"{item['given']} · {item['score']:.2f}× · {item['split']}") for item in report.outliers[:shown]],
        "outlier",
    )


def embedding_map(report: HealthReport, features: ImageFeatures) -> None:
    """The map, coloured as chosen; a click shows that image, a lasso or box the selected ones."""
    colour_by = st.radio("Colour by", health_charts.COLOUR_BY, horizontal=True, key="health_colour")
    with st.spinner("Projecting the features to 2-D (UMAP takes a minute the first time; the map is kept)…"):
        points, method = embedding.cached_projection(features.vectors)
    flagged = report.flagged()
    flags = [", ".join(FLAG_NAMES[kind] for kind in flagged.get(path, ())) for path in features.paths]
    figure = health_charts.embedding_figure(
        points,
        features.paths,
        [features.class_names[label] for label in features.labels],
        features.splits,
        flags,
        colour_by,
        method,
    )
    event = st.plotly_chart(
        figure, key="health_map", on_select="rerun", selection_mode=("points", "box", "lasso"), width="stretch"
    )
    st.caption(f"{method} of {len(features)} images: near points look alike to the model. Click a point, or draw a lasso.")
    chosen = health_charts.selected_indices(event)
    if not chosen:
        return
    st.subheader(f"{len(chosen)} selected")
    items = [
        (
            features.paths[i],
            f"{features.class_names[features.labels[i]]} · {features.splits[i]}" + (f" · {flags[i]}" if flags[i] else ""),
        )
        for i in chosen[: GALLERY_PAGE * 2]
    ]
    _gallery(report.root, items, "map")
    if len(chosen) > GALLERY_PAGE * 2:
        st.caption(f"Showing the first {GALLERY_PAGE * 2}; select fewer to see the rest.")


def _how_many(total: int, key: str) -> int:
    if total <= GALLERY_PAGE:
        return total
    return st.slider("Show", GALLERY_PAGE, total, GALLERY_PAGE, step=GALLERY_COLUMNS, key=key)


def _gallery(root: str, items: list[tuple[str, str]], kind: str) -> None:
    """Images in rows, each with its caption and a "Leave out of training" box."""
    left_out = exclusions.load(root)
    columns = st.columns(GALLERY_COLUMNS)
    for number, (path, caption) in enumerate(items):
        with columns[number % GALLERY_COLUMNS]:
            try:
                st.image(_thumbnail(path, _stamp(path)), width="stretch")
            except CatdogError as error:
                st.warning(f"cannot show {os.path.basename(path)}: {error}")
            st.markdown(caption)
            key = f"health_out_{kind}_{number}"
            st.session_state[key] = path in left_out  # the list is the truth, whichever gallery changed it
            st.checkbox("Leave out of training", key=key, on_change=_toggle, args=(root, path, key), help=path)


def _toggle(root: str, path: str, key: str) -> None:
    try:
        (exclusions.add if st.session_state[key] else exclusions.remove)(root, [path])
    except CatdogError as error:
        st.session_state["health_error"] = str(error)


@st.cache_data(max_entries=512, show_spinner=False)
def _thumbnail(path: str, stamp: float) -> Image.Image:
    image = Image.fromarray(load_image(path, None))
    image.thumbnail((320, 320))
    return image


def _stamp(path: str) -> float:
    try:
        return os.stat(path).st_mtime
    except OSError:
        return time.time()


@st.cache_resource
def _results() -> dict:
    # Each dataset's (report, features), shared by the sessions of this server; never mutated
    # once stored (the exclusion list is read fresh each run).
    return {}

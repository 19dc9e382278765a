"""Session state shared by the pages: the dataset in use, the pages' addresses, error boxes.

Keys shared by the pages:

    dataset         {"kind": "tutorial" | "folder" | "zip" | "upload", "root": str, "label": str} or None
    train_settings  a run's settings (`RunConfig.to_dict()`) handed to the Train page, which puts
                    them into its own widgets and removes this key
    train_launch    what this session launched last: {"pid", "log", "started"}, and "config" (the
                    settings file) for a single training
    app_ran         True once app.py has run in this session (see `through_app`)
    owner           this session's random id in the training queue (`training.who_am_i`)

A new session (a new tab, or a refresh) starts with the dataset chosen last on this machine,
remembered in `$CATDOG_CACHE_DIR/dashboard-dataset.json` and checked again before it is used.

Every other key belongs to one page and starts with its name (data_, samples_, aug_, train_,
predict_, evaluate_, runs_).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager  # its legacy-pages flag: no setting exists (through_app)
from streamlit.runtime.scriptrunner import get_script_run_ctx

from catdog.download import cached_tutorial_dataset
from catdog.errors import CatdogError
from catdog.paths import cache_dir, data_root, write_json_atomic
from catdog.uploads import confine_to_root

DATASET = "dataset"
TRAIN_SETTINGS = "train_settings"
TRAIN_LAUNCH = "train_launch"
APP_RAN = "app_ran"
OWNER = "owner"
DATA_PAGE = "pages/data.py"
TRAIN_PAGE = "pages/train.py"
TUTORIAL_LABEL = "the tutorial's cats_and_dogs_filtered"
_REROUTED = "app_rerouted"  # through_app's one attempt
_REMEMBERED = "dashboard-dataset.json"  # in the cache folder: the dataset chosen last


def init_state() -> None:
    """Give the shared session-state keys their defaults (app.py calls this on every run).

    A new session starts with the dataset chosen last on this machine when it is still there and
    still allowed; else with the tutorial's dataset when a complete copy is already on disk (a
    cheap check that neither downloads nor imports Keras); else none.
    """
    if DATASET not in st.session_state:
        found = cached_tutorial_dataset()
        tutorial = _source("tutorial", found, TUTORIAL_LABEL) if found else None
        st.session_state[DATASET] = _remembered_source() or tutorial
    st.session_state[APP_RAN] = True


def through_app() -> None:
    """Make sure app.py runs in this session before the page (each page calls this first).

    On a fresh server, a page opened by its address (a bookmark, tabs restored after a restart)
    is run by Streamlit's legacy pages/ discovery, because a `pages/` folder sits next to app.py:
    the class flag `PagesManager.uses_pages_directory` is True until some session has called
    st.navigation, and no setting turns it off. That run skips app.py (its navigation, sidebar and
    `init_state`). So the flag is cleared here and the run starts again; page hashes come from
    the address alone, so the rerun, through app.py's st.navigation, opens this same page.
    """
    if st.session_state.get(APP_RAN) or st.session_state.get(_REROUTED):
        return  # app.py ran; or it was asked once already, so a changed Streamlit cannot loop here
    context = get_script_run_ctx()
    if context is None or not (Path(context.main_script_path).parent / "pages").is_dir():
        return  # a page run as a script of its own
    st.session_state[_REROUTED] = True
    PagesManager.uses_pages_directory = False
    st.rerun()


def dataset_source() -> dict | None:
    """The dataset chosen on the Data page: {"kind", "root", "label"}, or None."""
    return st.session_state.get(DATASET)


def set_dataset_source(kind: str, root: Path, label: str) -> dict:
    """Make a checked dataset the one in use in this session, and the first one of new sessions."""
    source = _source(kind, root, label)
    st.session_state[DATASET] = source
    with contextlib.suppress(OSError):  # remembering is a convenience; never fail the choice over it
        cache_dir().mkdir(parents=True, exist_ok=True)
        write_json_atomic(cache_dir() / _REMEMBERED, source)
    return source


@contextlib.contextmanager
def reported_errors() -> Iterator[None]:
    """Show a mistake the user can fix (CatdogError) as an error box instead of a traceback.

    The rest of the `with` block is skipped; the page goes on after it.
    """
    try:
        yield
    except CatdogError as error:
        st.error(str(error))


def _remembered_source() -> dict | None:
    # The file is ours, but it is checked like user input: it must still name an allowed folder.
    try:
        source = json.loads((cache_dir() / _REMEMBERED).read_text())
        kind, root = source["kind"], Path(source["root"])
        if kind == "folder":
            allowed = confine_to_root(root, data_root()) == root
        elif kind in ("zip", "upload"):
            allowed = root.is_dir() and root.resolve().is_relative_to((cache_dir() / "uploads").resolve())
        else:
            allowed = kind == "tutorial" and root == cached_tutorial_dataset()
    except (OSError, ValueError, KeyError, TypeError, CatdogError):
        return None
    return _source(kind, root, str(source.get("label", root.name))) if allowed else None


def _source(kind: str, root: Path, label: str) -> dict:
    return {"kind": kind, "root": str(root), "label": label}

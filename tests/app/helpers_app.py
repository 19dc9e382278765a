"""Plain helpers for the dashboard tests: reading what an AppTest shows, and zips to upload."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

from helpers import REPO

APP = REPO / "app.py"


def texts(elements) -> list[str]:
    """The text of each element (captions, errors, infos...) of an AppTest."""
    return [str(element.value) for element in elements]


def metrics(at) -> dict[str, str]:
    """{label: shown value} of the page's st.metric elements."""
    return {metric.label: metric.value for metric in at.metric}


def plotly_specs(at) -> list[dict]:
    """Each Plotly chart on the page as its figure dict (data, layout)."""
    return [json.loads(element.proto.spec) for element in at.get("plotly_chart")]


def zip_of(folder: Path, prefix: str = "") -> bytes:
    """A zip of every file under `folder`, their paths starting with `prefix`."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                archive.write(path, prefix + str(path.relative_to(folder)))
    return buffer.getvalue()

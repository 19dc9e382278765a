"""The Data health page in a real browser: a lasso drawn on the embedding map opens the selected
images as a gallery, and the map's tab stays open over that rerun.

Needs ../shared/keras (the page's own ImageNet base) and /usr/bin/chromium; skips without them.
"""

from __future__ import annotations

import json

import pytest
from helpers import write_tutorial_layout
from helpers_browser import browser, streamlit_server  # noqa: F401  (browser is a fixture)

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.shared]


def test_a_lasso_on_the_map_opens_the_selected_images(browser, tmp_path, shared_keras_home):  # noqa: F811
    data = write_tutorial_layout(tmp_path / "data" / "tiny")
    cache = tmp_path / "cache"
    cache.mkdir()
    remembered = {"kind": "folder", "root": str(data), "label": "local folder tiny"}
    (cache / "dashboard-dataset.json").write_text(json.dumps(remembered))  # the dataset chosen last
    with streamlit_server(tmp_path, {"KERAS_HOME": str(shared_keras_home)}) as url:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"{url}/health")
        page.get_by_role("tab", name="Embedding map").click(timeout=300_000)
        plot = page.locator(".js-plotly-plot .nsewdrag").first
        plot.wait_for(timeout=300_000)
        box = plot.bounding_box()
        corners = [(0.01, 0.01), (0.99, 0.01), (0.99, 0.99), (0.01, 0.99), (0.01, 0.02)]  # around every point
        page.mouse.move(box["x"] + box["width"] * corners[0][0], box["y"] + box["height"] * corners[0][1])
        page.mouse.down()
        for x, y in corners[1:]:
            page.mouse.move(box["x"] + box["width"] * x, box["y"] + box["height"] * y, steps=10)
        page.mouse.up()
        page.get_by_role("heading", name="128 selected").wait_for(timeout=120_000)
        assert page.get_by_role("tab", name="Embedding map").get_attribute("aria-selected") == "true"
        assert page.get_by_text("Leave out of training").count() >= 8  # the gallery, a box per image
        page.close()

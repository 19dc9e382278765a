"""Deep links on a fresh server: a page opened by its address before anyone opened the home page
(a bookmark, tabs restored after a restart) still goes through app.py: its navigation with the
pages' titles, and its sidebar. Streamlit would otherwise route that first visit through its legacy
pages/ discovery (see catdog.ui.state.through_app). A fresh server for each test.

Skips when /usr/bin/chromium is absent (`make browser` installs it).
"""

from __future__ import annotations

import re

import pytest
from helpers import REPO
from helpers_browser import browser, streamlit_server  # noqa: F401  (browser is a fixture)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# The navigation's titles, in app.py's order (st.Page(..., title="...")).
TITLES = re.findall(r'st\.Page\([^)]*title="([^"]+)"', (REPO / "app.py").read_text())
PAGES = {"data": "catdog", "samples": "Samples", "augmentation": "Augmentation", "train": "Train", "predict": "Predict"}
PAGES |= {"evaluate": "Evaluate", "runs": "Runs", "health": "Data health", "learning_curve": "Learning curve"}


def _opened_through_app(page, url: str, path: str, heading: str) -> None:
    if not page.url.startswith(url):
        page.goto(f"{url}/{path}")
    page.get_by_role("heading", name=heading, exact=True).wait_for(timeout=120_000)
    sidebar = page.locator('[data-testid="stSidebarUserContent"]')
    sidebar.get_by_text("Dataset: none chosen yet").wait_for()  # app.py's sidebar ran
    links = page.locator('[data-testid="stSidebarNav"] a')
    assert [text.split("\n")[-1] for text in links.all_inner_texts()] == TITLES  # app.py's navigation, not the file names
    assert page.url.rstrip("/") == f"{url}/{path}".rstrip("/") or path == "data"


@pytest.mark.parametrize("path", list(PAGES))
def test_each_page_opened_first_goes_through_app_py(browser, tmp_path, path):  # noqa: F811
    with streamlit_server(tmp_path) as url:
        page = browser.new_page()
        _opened_through_app(page, url, path, PAGES[path])
        page.close()


def test_several_pages_opened_at_once_on_a_fresh_server(browser, tmp_path):  # noqa: F811
    with streamlit_server(tmp_path) as url:
        tabs = {path: browser.new_context().new_page() for path in ("predict", "train", "runs", "samples")}
        for path, tab in tabs.items():  # every request is sent before any page is checked
            tab.goto(f"{url}/{path}", wait_until="commit")
        for path, tab in tabs.items():
            _opened_through_app(tab, url, path, PAGES[path])
        for tab in tabs.values():
            tab.context.close()

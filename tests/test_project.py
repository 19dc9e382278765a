"""The project as a whole: settings a deployment relies on, and the package layout."""

from __future__ import annotations


def test_streamlit_keeps_xsrf_protection_on_and_usage_statistics_off():
    import tomllib
    from helpers import REPO

    settings = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text())
    assert settings["server"]["enableXsrfProtection"] is True
    assert settings["browser"]["gatherUsageStats"] is False
    assert "authenticating reverse proxy" in " ".join((REPO / "README.md").read_text().split())

"""The project as a whole: settings a deployment relies on, and the package layout."""

from __future__ import annotations

import ast
from pathlib import Path

from helpers import REPO


def test_streamlit_keeps_xsrf_protection_on_and_usage_statistics_off():
    import tomllib

    settings = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text())
    assert settings["server"]["enableXsrfProtection"] is True
    assert settings["browser"]["gatherUsageStats"] is False
    assert settings["server"]["address"] == "localhost"  # no accounts: only this machine, unless told
    assert "HOST ?= localhost" in (REPO / "Makefile").read_text()
    assert "authenticating reverse proxy" in " ".join((REPO / "README.md").read_text().split())


# ----------------------------------------------------------------------------- layout

# What each part of catdog may import from catdog, in-function imports included. Imports run one
# way, from the leaves (errors, paths) up to the front ends (ui, bench, the command line); a new
# module must be added here, which says where it sits.
_CORE_BELOW_TRAINING = {
    "errors", "paths", "cpu", "precision", "augment", "architectures", "models", "config", "images", "uploads", "download",
    "data", "pipeline", "runs", "lite", "predict", "evaluate", "explain", "export", "calibration", "queue", "exclusions",
    "stress", "readahead",
}  # fmt: skip
ALLOWED_IMPORTS = {
    "errors": set(),
    "paths": set(),
    "cluster": {"errors"},
    "native_logs": set(),
    "cpu": set(),
    "precision": {"cpu", "paths"},
    "augment": {"errors"},
    "architectures": {"errors", "paths", "augment"},
    "adam": set(),
    "models": {"errors", "architectures", "precision", "adam"},
    "config": {"errors", "augment", "models"},
    "images": {"errors"},
    "readahead": {"errors", "images"},
    "uploads": {"errors", "paths"},
    "download": {"errors", "paths", "uploads"},
    "exclusions": {"errors", "paths"},
    "data": {"errors", "images", "download", "exclusions"},
    "pipeline": {"images", "data"},
    "runs": {"errors", "paths", "config"},
    "queue": {"errors", "paths", "runs"},
    "lite": {"errors", "paths"},
    "calibration": {"errors", "paths"},
    "stress": {"errors", "images"},
    "predict": {"errors", "images", "lite", "models", "runs", "calibration"},
    "evaluate": {"errors", "data", "pipeline", "models", "runs", "calibration"},
    "explain": {"errors", "images", "models"},
    "export": {"errors", "lite", "models", "runs"},
    "batch": {"errors", "images", "predict"},
    "features": {"errors", "paths", "cpu", "config", "data", "pipeline", "readahead", "architectures", "models", "lite", "runs"},
    "callbacks": {"errors", "paths", "config", "data", "models", "runs", "cluster"},
    "train": {"errors", "paths", "config", "data", "pipeline", "images", "architectures", "models", "runs", "features"}
    | {"callbacks", "cluster"},
    "bench": _CORE_BELOW_TRAINING | {"features", "callbacks", "train"},
    "learning_curve": {"errors", "config", "data", "architectures", "features", "models", "train"},
    "health": {"errors", "config", "data", "architectures", "features", "models", "exclusions"},
    "embedding": {"paths"},
    "ui": _CORE_BELOW_TRAINING | {"health", "embedding"},  # never training code itself: the dashboard trains in a child process
    "commands": _CORE_BELOW_TRAINING | {"batch", "train", "bench", "health"},
    "commands_trust": _CORE_BELOW_TRAINING | {"commands", "learning_curve"},
    "__main__": {"augment", "config", "commands", "commands_trust", "errors", "models", "native_logs", "predict"},
    "__init__": {"config", "errors"},
}


def _catdog_modules() -> dict[str, Path]:
    package = REPO / "catdog"
    return {".".join(path.relative_to(REPO).with_suffix("").parts): path for path in sorted(package.rglob("*.py"))}


def _catdog_imports(path: Path, name: str) -> set[str]:
    """The catdog modules `path` imports, at the top or inside functions alike."""
    modules = _catdog_modules()
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(name.split(".")[: -node.level] + ([node.module] if node.module else []))
            targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for target in targets:
            if target.startswith("catdog.") and (target in modules or f"{target}.__init__" in modules):
                found.add(target if target in modules else f"{target}.__init__")
    return found


def _unit(module: str) -> str:
    # catdog.ui.charts -> "ui", catdog.bench.reference -> "bench", catdog.__init__ -> "__init__"
    return module.split(".")[1]


def test_imports_run_one_way_through_the_layers():
    modules = _catdog_modules()
    assert {_unit(name) for name in modules} == set(ALLOWED_IMPORTS), "add the new module to ALLOWED_IMPORTS"
    wrong = []
    for name, path in modules.items():
        unit = _unit(name)
        for target in _catdog_imports(path, name):
            if _unit(target) != unit and _unit(target) not in ALLOWED_IMPORTS[unit]:
                wrong.append(f"{name} imports {target}")
    assert not wrong, wrong


def test_no_import_cycles_and_no_oversized_module():
    modules = _catdog_modules()
    graph = {name: _catdog_imports(path, name) - {name} for name, path in modules.items()}
    # A package's __init__ importing its own modules is its front door, not a cycle.
    for name in graph:
        if name.endswith(".__init__"):
            package = name.removesuffix(".__init__")
            for other in graph:
                if other.startswith(package + ".") and other != name:
                    graph[other].discard(name)
    state: dict[str, int] = {}

    def visit(node, trail):
        state[node] = 1
        for target in graph[node]:
            if state.get(target) == 1:
                raise AssertionError(f"import cycle: {' -> '.join(trail[trail.index(target) :] + [target])}")
            if target not in state:
                visit(target, trail + [target])
        state[node] = 2

    for name in graph:
        if name not in state:
            visit(name, [name])
    oversized = {name: count for name, path in modules.items() if (count := len(path.read_text().splitlines())) > 450}
    assert not oversized, oversized


def test_streamlit_only_in_catdog_ui_and_no_tensorflow_in_pages():
    for name, path in _catdog_modules().items():
        streamlit = {target for target in _all_imports(path) if target.split(".")[0] == "streamlit"}
        if streamlit:
            assert _unit(name) == "ui", f"{name} imports Streamlit"
    for charts in ("charts.py", "health_charts.py"):  # figure builders, tested without Streamlit
        assert not [target for target in _all_imports(REPO / "catdog" / "ui" / charts) if target.startswith("streamlit")]
    for page in [REPO / "app.py", *sorted((REPO / "pages").glob("*.py"))]:
        assert not [target for target in _all_imports(page) if target.split(".")[0] in ("tensorflow", "keras")], page


def _all_imports(path: Path) -> set[str]:
    """Every module `path` imports anywhere (absolute names)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
    return found

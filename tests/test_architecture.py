"""The package's shape: imports flow one way (import-linter's contracts in pyproject.toml), no module is
longer than one sitting, and every package folder is a real package."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "infogan"
MAX_LINES = 360  # about 350: one concern per file, readable in one sitting


def test_import_contracts_are_kept(capsys):
    """The layers contract (cli -> web -> api -> reproduce -> training -> metrics -> inference -> snapshot ->
    models | data | runtime -> config -> latent -> storage -> errors) and no cycle between sibling modules."""
    cli = pytest.importorskip("importlinter.cli", reason="pip install -e '.[test]' installs import-linter")
    code = cli.lint_imports(config_filename=str(ROOT / "pyproject.toml"), no_cache=True)
    assert code == 0, capsys.readouterr().out[-4000:]


def test_modules_stay_short():
    long = {str(p.relative_to(PACKAGE)): n for p in PACKAGE.rglob("*.py")
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert not long, f"modules over {MAX_LINES} lines: {long}"


def test_every_folder_of_modules_is_a_package():
    folders = {p.parent for p in PACKAGE.rglob("*.py")}
    assert all((folder / "__init__.py").exists() for folder in folders), sorted(
        str(f) for f in folders if not (f / "__init__.py").exists())

"""Build hook: the wheel carries the top-level ``flows/`` and ``sandbox/`` folders as package data.

They stay at the top of the repository (the project's layout); ``alphaflow/resources.py`` finds the
copies under ``alphaflow/_shipped/`` in an installed wheel and the originals in a checkout. All
other metadata lives in ``pyproject.toml``.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

SHIPPED = ("flows", "sandbox")


class BuildPyWithShippedFolders(build_py):
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return  # an editable install reads the checkout's folders directly
        root = Path(__file__).resolve().parent
        for name in SHIPPED:
            target = Path(self.build_lib) / "alphaflow" / "_shipped" / name
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(root / name, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


setup(cmdclass={"build_py": BuildPyWithShippedFolders})

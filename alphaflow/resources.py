"""Where the files shipped beside the package live: built-in flows and the sandbox image context.

In a checkout they are the top-level ``flows/`` and ``sandbox/`` folders. A wheel carries copies as
package data under ``alphaflow/_shipped/`` (``setup.py`` puts them there at build time), found with
``importlib.resources`` so an installed alphaflow needs no checkout.
"""

from __future__ import annotations

import importlib.resources
from pathlib import Path

from alphaflow.errors import UserError

SHIPPED_PACKAGE_DIR = "_shipped"  # inside the alphaflow package, in a wheel
CHECKOUT_ROOT = Path(__file__).resolve().parent.parent


def shipped_dir(name: str) -> Path:
    """The folder ``name`` (``flows`` or ``sandbox``): the wheel's copy, else the checkout's.

    Raises ``UserError`` when neither exists (a broken install), naming both places looked in.
    """
    packaged = importlib.resources.files("alphaflow") / SHIPPED_PACKAGE_DIR / name
    if packaged.is_dir():
        return Path(str(packaged))
    checkout = CHECKOUT_ROOT / name
    if checkout.is_dir():
        return checkout
    raise UserError(
        f"alphaflow's {name}/ folder is missing: looked in {packaged} and {checkout}; "
        "reinstall alphaflow (pip install --force-reinstall alphaflow)"
    )


def flows_dir() -> Path:
    """The built-in flows (``flows/`` in the repository)."""
    return shipped_dir("flows")


def sandbox_dir() -> Path:
    """The sandbox image's build context (``sandbox/``: Dockerfile and the runner)."""
    return shipped_dir("sandbox")

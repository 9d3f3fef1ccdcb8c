"""External tools and servers the tests need: CI must run every check, a developer machine may skip."""

from __future__ import annotations

import os
import shutil
from typing import NoReturn

import pytest


def unavailable(message: str) -> NoReturn:
    """Fail under CI=true (where .ci/run installs everything), skip elsewhere."""
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def require_tools(*tools: str, packages: str) -> None:
    """Go on only when every tool is on PATH; name the Debian packages that provide them otherwise."""
    missing = [tool for tool in tools if shutil.which(tool) is None]
    if missing:
        unavailable(f"missing {', '.join(missing)} (Debian packages: {packages}; .ci/run installs them)")

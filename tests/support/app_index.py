"""The Function App's functions, indexed once per test process.

azure-functions' `get_functions()` refuses to run twice on one app (it remembers the names it saw), so every test
that needs the index asks here.
"""

from __future__ import annotations

import sys
from functools import lru_cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


@lru_cache(maxsize=1)
def app_functions() -> tuple:
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    import function_app

    return tuple(function_app.app.get_functions())

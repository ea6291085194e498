"""Where the real public benchmark files are (`../shared/real-data`, see its README.md; override
with STILTS_JAX_REAL_DATA). They are never copied into the repo; tests skip with this reason on a
clone without them (CI always has them)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REAL_DATA = Path(os.environ.get("STILTS_JAX_REAL_DATA")
                 or Path(__file__).resolve().parents[2] / "shared" / "real-data")
needs_real_data = pytest.mark.skipif(
    not REAL_DATA.is_dir(), reason=f"real benchmark data folder {REAL_DATA} not found (set "
    f"STILTS_JAX_REAL_DATA to a copy of shared/real-data)")

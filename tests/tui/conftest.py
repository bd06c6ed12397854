"""TUI tests run on asyncio (Textual); times render in UTC so screens are deterministic."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

os.environ["TZ"] = "UTC"
time.tzset()
sys.path.insert(0, str(Path(__file__).parent))

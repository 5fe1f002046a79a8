"""One digest for everything keyed by content: sha256 of canonical JSON, truncated.

Canonical: keys sorted, no whitespace choice beyond `json.dumps`'s default, anything not
JSON (paths, numpy scalars) through ``str``. `config.config_hash` is ``digest(flat, 16)``,
byte for byte the hash stored results are found by.
"""
from __future__ import annotations

import hashlib
import json
from typing import Any


def digest(obj: Any, n: int = 16) -> str:
    """The first ``n`` hex digits of sha256 of ``obj`` as canonical JSON."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:n]

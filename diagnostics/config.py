"""Detector configuration: a plain dict/JSON per equipment type, so tuning never needs a code change.

Format (see ``default_config.json`` and docs/diagnostics.md): ``defaults`` holds detector parameters that
apply to every signal; ``equipment.<type>.signals.<signal>`` enables per-signal detectors (``range``,
``threshold``, ``rate``, ``drift``) and may override defaults (``stuck``, ``spike``, ``drift``, ``gap_s``).
A config passed to the monitor is deep-merged over the shipped default.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from functools import lru_cache
from importlib import resources
from typing import Any


@lru_cache(maxsize=1)
def _default_text() -> str:
    return resources.files("diagnostics").joinpath("default_config.json").read_text()


def default_config() -> dict[str, Any]:
    """A fresh copy of the shipped default configuration."""
    return json.loads(_default_text())


def merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Recursive dict merge; values in ``override`` win, dicts merge, everything else replaces."""
    out = copy.deepcopy(dict(base))
    for k, v in override.items():
        if isinstance(v, Mapping) and isinstance(out.get(k), Mapping):
            out[k] = merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def equipment_config(equipment_type: str, config: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Effective config for one equipment type: defaults merged with the type's section.

    ``config`` may be a full document (with ``equipment``) or just the section for this type.
    """
    full = default_config()
    if config is not None:
        full = merge(full, config if "equipment" in config or "defaults" in config
                     else {"equipment": {equipment_type: config}})
    section = full.get("equipment", {}).get(equipment_type)
    if section is None:
        raise KeyError(f"no diagnostics config for equipment type {equipment_type!r}")
    return merge(full.get("defaults", {}), section)

"""Detector state as JSON: a restarted diagnose process resumes its detectors instead of relearning them.

Why generic (walk the objects' attributes) rather than a ``state()`` method on every detector: the detectors are
small state machines that keep evolving; a codec that snapshots whatever attributes they hold needs no change
when one gains a field, and a snapshot that no longer fits the code is recognised by its *shape* (class and
attribute names) and discarded, so an upgrade relearns instead of restoring half a state.

Why not pickle: checkpoints live in the database, and loading them must never execute code. Restoring only
writes plain values into freshly built detector objects; the only objects created from a snapshot are frozen
dataclasses of the diagnostics package (findings) and the standard containers below.

Pure: no I/O. ``snapshot(obj)`` -> JSON-ready dict; ``restore(obj, snap)`` writes it back into a fresh object
built from the same configuration; ``shape(obj)`` / ``fingerprint`` tell whether a snapshot fits.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import json
import math
from collections import deque
from collections.abc import Mapping
from typing import Any

import numpy as np

FORMAT = 1
# Attributes that are configuration or shared references, never detector state: rebuilt from config and model.
SKIP_ATTRS = frozenset({"cfg", "model", "device_id", "equipment_type", "limits", "policy"})
# Frozen dataclasses a snapshot may re-create (what the monitor keeps in its active-findings map).
ALLOWED_DATACLASS_MODULES = ("diagnostics.",)


def _is_state_object(v: Any) -> bool:
    return hasattr(v, "__dict__") and not isinstance(v, type) and not dataclasses.is_dataclass(v) \
        and type(v).__module__.startswith(ALLOWED_DATACLASS_MODULES) and type(v).__name__ != "NormalModel"


def _floats(items: Any) -> list[Any] | None:
    """A sequence of plain floats as JSON in one pass (windows and buffers are most of a snapshot), else None."""
    out = []
    for x in items:
        if type(x) is not float:
            return None
        out.append(x if math.isfinite(x) else {"__f": repr(x)})
    return out


def encode(v: Any) -> Any:
    """A value as JSON (finite floats only: jsonb refuses NaN/Infinity)."""
    if type(v) is float:
        return v if math.isfinite(v) else {"__f": repr(v)}
    if isinstance(v, list):
        fast = _floats(v)
        return fast if fast is not None else [encode(x) for x in v]
    if isinstance(v, deque):
        fast = _floats(v)
        return {"__deque": fast if fast is not None else [encode(x) for x in v], "maxlen": v.maxlen}
    if v is None or isinstance(v, (bool, str, int)):
        return v
    if isinstance(v, (float, np.floating)):
        f = float(v)
        return f if math.isfinite(f) else {"__f": repr(f)}
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.ndarray):
        return {"__nd": [encode(x) for x in v.tolist()], "dtype": str(v.dtype)}
    if isinstance(v, deque):
        return {"__deque": [encode(x) for x in v], "maxlen": v.maxlen}
    if isinstance(v, tuple):
        return {"__tuple": [encode(x) for x in v]}
    if isinstance(v, list):
        return [encode(x) for x in v]
    if isinstance(v, (set, frozenset)):
        return {"__set": [encode(x) for x in sorted(v, key=repr)]}
    if isinstance(v, Mapping):
        if all(isinstance(k, str) and not k.startswith("__") for k in v):
            return {k: encode(x) for k, x in v.items()}
        return {"__dict": [[encode(k), encode(x)] for k, x in v.items()]}
    if dataclasses.is_dataclass(v) and not isinstance(v, type):
        cls = type(v)
        return {"__dc": f"{cls.__module__}:{cls.__qualname__}",
                "fields": {f.name: encode(getattr(v, f.name)) for f in dataclasses.fields(v)}}
    if _is_state_object(v):
        return {"__obj": type(v).__qualname__, "attrs": snapshot(v)}
    raise TypeError(f"cannot checkpoint a {type(v).__name__}")


def decode(v: Any) -> Any:
    if isinstance(v, list):
        return [decode(x) for x in v]
    if not isinstance(v, dict):
        return v
    if "__f" in v:
        return float(v["__f"])
    if "__nd" in v:
        return np.array(decode(v["__nd"]), dtype=v.get("dtype", "float64"))
    if "__deque" in v:
        return deque(decode(v["__deque"]), maxlen=v.get("maxlen"))
    if "__tuple" in v:
        return tuple(decode(v["__tuple"]))
    if "__set" in v:
        return set(decode(v["__set"]))
    if "__dict" in v:
        return {_hashable(decode(k)): decode(x) for k, x in v["__dict"]}
    if "__dc" in v:
        module, _, name = str(v["__dc"]).partition(":")
        if not module.startswith(ALLOWED_DATACLASS_MODULES):
            raise ValueError(f"checkpoint names a class outside diagnostics: {v['__dc']!r}")
        cls: Any = getattr(importlib.import_module(module), name)
        params = getattr(cls, "__dataclass_params__", None)
        if not (isinstance(cls, type) and dataclasses.is_dataclass(cls) and params is not None and params.frozen):
            raise ValueError(f"checkpoint names a class that is not a frozen dataclass: {v['__dc']!r}")
        return cls(**{k: decode(x) for k, x in v["fields"].items()})
    if "__obj" in v:
        raise ValueError("nested detector objects are restored in place, not decoded")
    return {k: decode(x) for k, x in v.items()}


def _hashable(v: Any) -> Any:
    return tuple(_hashable(x) for x in v) if isinstance(v, (list, tuple)) else v


def snapshot(obj: Any) -> dict[str, Any]:
    """Every state attribute of ``obj`` (and of the detector objects it holds), JSON-ready."""
    return {k: encode(v) for k, v in vars(obj).items() if k not in SKIP_ATTRS and not callable(v)}


def restore(obj: Any, snap: Mapping[str, Any]) -> None:
    """Write a snapshot back into a freshly built ``obj`` of the same shape (objects are filled in place,
    so references between them, e.g. the monitor's alias of its model detector, stay intact)."""
    for k, v in snap.items():
        cur = getattr(obj, k, None)
        if isinstance(v, dict) and "__obj" in v:
            if cur is not None and type(cur).__qualname__ == v["__obj"]:
                restore(cur, v["attrs"])
            continue
        if isinstance(v, list) and isinstance(cur, list) and any(isinstance(x, dict) and "__obj" in x for x in v):
            for item, s in zip(cur, v, strict=False):
                if isinstance(s, dict) and "__obj" in s and type(item).__qualname__ == s["__obj"]:
                    restore(item, s["attrs"])
            continue
        if isinstance(v, dict) and isinstance(cur, dict) and any(isinstance(x, dict) and "__obj" in x
                                                                for x in v.values()):
            for key, s in v.items():
                if key in cur and isinstance(s, dict) and "__obj" in s:
                    restore(cur[key], s["attrs"])
            continue
        setattr(obj, k, decode(v))


def shape(obj: Any) -> Any:
    """Class and attribute names of ``obj``'s state tree: two objects with equal shapes can share snapshots."""
    out: dict[str, Any] = {"__class": type(obj).__qualname__}
    for k, v in sorted(vars(obj).items()):
        if k in SKIP_ATTRS or callable(v):
            continue
        if _is_state_object(v):
            out[k] = shape(v)
        elif isinstance(v, list) and any(_is_state_object(x) for x in v):
            out[k] = [shape(x) if _is_state_object(x) else type(x).__name__ for x in v]
        elif isinstance(v, dict) and any(_is_state_object(x) for x in v.values()):
            out[k] = {str(kk): shape(x) if _is_state_object(x) else type(x).__name__ for kk, x in v.items()}
        else:
            out[k] = type(v).__name__ if v is not None else "?"
    return out


def fingerprint(obj: Any, *extra: Any) -> str:
    """Hash of the state tree's shape plus whatever configuration decides it (config dict, model version).

    Types of values that may be None (a latch's ``since``) are not part of the shape: only attribute names and
    nested classes are, so a detector caught mid-episode still matches a fresh one.
    """
    doc = json.dumps([_names(shape(obj)), *extra], sort_keys=True, default=str)
    return hashlib.sha256(doc.encode()).hexdigest()[:32]


def _names(s: Any) -> Any:
    if isinstance(s, dict):
        return {k: _names(v) for k, v in s.items() if isinstance(v, (dict, list)) or k == "__class"} | \
            {"__attrs": sorted(k for k, v in s.items() if k != "__class")}
    if isinstance(s, list):
        return [_names(x) for x in s if isinstance(x, (dict, list))]
    return s

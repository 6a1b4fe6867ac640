"""Print the configuration reference (every field of core/settings.py) as a Markdown table for docs/operations.md.

Each row: the environment variable, its default and the comment written above the field in core/settings.py, so
the reference says what the code says. Run: ``python scripts/settings_reference.py``; tests/security/
test_compose.py checks that docs/operations.md names every variable."""

from __future__ import annotations

import re
import sys
from pathlib import Path

from pydantic import BaseModel

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from core.settings import PROJECT_ROOT, Settings


def env_names() -> list[tuple[str, type[BaseModel] | None, str]]:
    """(variable, owning model or None for top level, field name) for every setting, in declaration order."""
    out: list[tuple[str, type[BaseModel] | None, str]] = []
    for name, field in Settings.model_fields.items():
        sub = field.annotation
        if isinstance(sub, type) and issubclass(sub, BaseModel):
            out += [(f"QUIETFIX_{name.upper()}__{s.upper()}", sub, s) for s in sub.model_fields]
        else:
            out.append((f"QUIETFIX_{name.upper()}", None, name))
    return out


def _comments() -> dict[tuple[str, str], str]:
    """(class name, field) -> the comment lines directly above the field in core/settings.py."""
    out: dict[tuple[str, str], str] = {}
    cls, pending = "", list[str]()
    for line in (PROJECT_ROOT / "core" / "settings.py").read_text().splitlines():
        if m := re.match(r"class (\w+)\(", line):
            cls, pending = m.group(1), []
        elif m := re.match(r"\s+#\s?(.*)", line):
            pending.append(m.group(1))
        elif m := re.match(r"\s+(\w+): ", line):
            out[(cls, m.group(1))] = " ".join(pending)
            pending = []
        else:
            pending = []
    return out


def table() -> str:
    comments = _comments()
    defaults = Settings.model_construct()
    home = str(Path.home())
    rows = ["| variable | default | meaning (from core/settings.py) |", "|---|---|---|"]
    for env, model, field in env_names():
        owner = model.__name__ if model else "Settings"
        group = env.split("__")[0].removeprefix("QUIETFIX_").lower()
        value = getattr(getattr(defaults, group), field) if model else getattr(defaults, field)
        if isinstance(value, Path):
            value = str(value).replace(home, "~")
        if field in ("secret_key", "mqtt_password", "smtp_password"):
            value = "(development value)" if value else value
        text = comments.get((owner, field), "").replace("|", "\\|")
        rows.append(f"| `{env}` | `{value}` | {text} |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(table())

"""The sender's settings live in the one settings tree (core.settings.NotifySettings, ``QUIETFIX_NOTIFY__*``)."""

from core.settings import NotifySettings as NotifyConfig

__all__ = ["NotifyConfig"]

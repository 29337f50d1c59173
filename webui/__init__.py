"""The operator's confirmation page (/ui): orders the model asked for wait here for a human decision."""

from webui.router import mount_ui, ui_router

__all__ = ["mount_ui", "ui_router"]

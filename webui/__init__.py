"""The operator's confirmation page (/ui): orders the model asked for wait here for a human decision."""

from settings import Settings
from webui.router import mount_ui, ui_router

__all__ = ["confirmation_page_note", "mount_ui", "ui_router"]


def confirmation_page_note(settings: Settings) -> str:
    """One start-up line: where the operator confirms orders, or why the page confirms nothing."""
    if settings.operator_token is None:
        return "confirmation page /ui: off (OPERATOR_TOKEN is not set)"
    return f"confirmation page: {settings.ui_base_url} (served only for that host; set UI_BASE_URL to match)"

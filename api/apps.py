from django.apps import AppConfig


class ApiConfig(AppConfig):
    """The agent's door to every app: REST under /api/v1/ and MCP (stdio and /mcp). No models of its own."""

    name = "api"
    default_auto_field = "django.db.models.BigAutoField"

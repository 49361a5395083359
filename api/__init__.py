"""The agent's door: the REST API under /api/v1/, its tool definitions and the MCP server (docs/api.md)."""

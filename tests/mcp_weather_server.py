"""A small real MCP server for the MCP tests and the example, built with the ``mcp``
package's own server API (``MCPServer``, formerly FastMCP).

``python tests/mcp_weather_server.py`` serves it over stdio; ``build_server()`` gives
the server for streamable HTTP (``build_server().streamable_http_app()``).
"""

from __future__ import annotations

import os

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError


def build_server() -> MCPServer:
    server = MCPServer("weather")

    @server.tool()
    def get_forecast(city: str) -> str:
        """The weather forecast for a city."""
        return f"sunny in {city}, 21 degrees"

    @server.tool()
    def get_tide(city: str) -> dict[str, object]:
        """High and low tide times at a city's harbour."""
        return {"city": city, "high": "06:12", "low": "12:25"}

    @server.tool()
    def check_alerts(city: str) -> str:
        """Weather alerts for a city."""
        raise ToolError(f"the alert service for {city} is down")

    @server.tool()
    def crash_radar(city: str) -> str:
        """Radar pictures for a city (this server dies while answering)."""
        os._exit(3)

    return server


if __name__ == "__main__":
    build_server().run("stdio")

"""MCP tools: the model calls a tool of a Model Context Protocol server.

This file is also the MCP server: ``--serve-mcp`` serves its ``get_forecast`` tool
over stdio, with the ``mcp`` package's own server API. Run normally, the example
starts that server as a process (``MCPServerStdio``), the runner lists its tools
when it starts, and the model calls one during the conversation; the runner
closes the server when the conversation ends. ``--mcp-url`` uses a server over
streamable HTTP instead (``MCPServerHTTP``). ``--record FILE`` records the call
to a stereo WAV (user left, agent right). At the end the token usage is printed in
full (text, audio, cached).

    python examples/realtime_mcp.py                      # offline simulator
    python examples/realtime_mcp.py --provider openai    # needs OPENAI_API_KEY
    python examples/realtime_mcp.py --mcp-url http://127.0.0.1:8000/mcp
    python examples/realtime_mcp.py --record call.wav     # and keep the call
"""

from __future__ import annotations

import argparse
import sys

DEFAULT_QUESTIONS = ["What is the forecast in Lisbon?"]
FORECASTS = {"lisbon": "sunny, 24 degrees", "oslo": "snow, -3 degrees"}


def serve_mcp() -> None:
    """The MCP server (stdio): one tool, from a plain function."""
    from mcp.server.mcpserver import MCPServer

    server = MCPServer("forecasts")

    @server.tool()
    def get_forecast(city: str) -> str:
        """Tomorrow's weather forecast for a city."""
        return f"{city}: {FORECASTS.get(city.strip().lower(), 'mild, 18 degrees')}"

    server.run("stdio")


async def main(args: argparse.Namespace) -> int:
    from _common import ConsoleHandler, converse, open_model, say, tool_result_printer, voice_for

    from adk_realtime import (
        MCPServerHTTP,
        MCPServerStdio,
        RealtimeAgent,
        RealtimeRunner,
        Recording,
    )

    server = (
        MCPServerHTTP(args.mcp_url)
        if args.mcp_url
        else MCPServerStdio(sys.executable, [__file__, "--serve-mcp"], name="forecasts")
    )
    async with open_model(args) as model:
        agent = RealtimeAgent(
            "forecaster",
            model,
            instruction="Use get_forecast for any weather question; answer in one sentence.",
            voice=voice_for(model),
            after_tool_callback=tool_result_printer,
        )
        handler = ConsoleHandler()
        runner = RealtimeRunner(
            agent=agent,
            event_handler=handler,
            agent_event_sink=handler.sink,
            mcp_servers=[server],
            recording=Recording(args.record) if args.record else None,
        )
        await converse(runner, handler, args.question or DEFAULT_QUESTIONS, args.timeout)
        say("info", f"MCP tools: {', '.join(tool.name for tool in server.tools)}")
        m = runner.metrics
        say(
            "usage",
            f"input {m.input_tokens} (text {m.input_text_tokens}, audio {m.input_audio_tokens}, "
            f"cached {m.cached_input_tokens}); output {m.output_tokens} "
            f"(text {m.output_text_tokens}, audio {m.output_audio_tokens})",
        )
    report = runner.recording_report
    if report is not None:
        say("recording", f"{report.path}: {report.duration_ms} ms, {report.dropped_chunks} dropped")
    return 0


if __name__ == "__main__":
    if "--serve-mcp" in sys.argv:
        serve_mcp()
        sys.exit(0)
    from _common import parser, run

    p = parser(__doc__.split("\n\n")[0] if __doc__ else "")
    p.add_argument("--question", action="append", help="a question (repeat for several turns)")
    p.add_argument("--mcp-url", help="an MCP server over streamable HTTP (default: stdio)")
    p.add_argument("--record", help="record the call to this stereo WAV")
    sys.exit(run(main, p.parse_args()))

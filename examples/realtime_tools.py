"""Real-time tool calling (a weather lookup) during a conversation.

A ``RealtimeAgent`` with one tool, ``get_weather``, made from a plain Python
function by ``@function_tool`` (its JSON schema comes from the type hints, its
description from the docstring). The runner executes the call while the
conversation goes on, sends the result back, and the model answers with it.

    python examples/realtime_tools.py                      # offline simulator
    python examples/realtime_tools.py --provider openai    # needs OPENAI_API_KEY
    python examples/realtime_tools.py --question "Is it raining in London?"
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from _common import (
    ConsoleHandler,
    converse,
    open_model,
    parser,
    run,
    say,
    tool_result_printer,
    voice_for,
)

from adk_realtime import RealtimeAgent, RealtimeRunner, ToolContext, function_tool

DEFAULT_QUESTIONS = ["What is the weather in Tokyo?", "And the weather in Paris?"]

# A stand-in for a weather service.
WEATHER = {
    "paris": (18, "sunny"),
    "london": (12, "light rain"),
    "tokyo": (22, "clear"),
    "new york": (15, "cloudy"),
}


@function_tool
def get_weather(city: str, unit: str = "celsius") -> dict[str, Any]:
    """Get the current weather for a city.

    Args:
        city: The city name, e.g. Paris.
        unit: "celsius" or "fahrenheit".
    """
    temp_c, sky = WEATHER.get(city.strip().lower(), (20, "mild"))
    temp = temp_c if unit == "celsius" else round(temp_c * 9 / 5 + 32)
    return {"city": city, "temp": temp, "unit": unit[0].upper(), "sky": sky}


def log_call(ctx: ToolContext) -> None:
    """``before_tool_callback``: runs before every tool call (return a value to replace it)."""
    say("info", f"{ctx.agent_name} is calling {ctx.name} with {ctx.arguments}")


async def main(args: argparse.Namespace) -> int:
    async with open_model(args) as model:
        agent = (
            RealtimeAgent.builder("weather_assistant")
            .model(model)
            .instruction(
                "You are a helpful voice assistant. Use get_weather for any weather question "
                "and answer in one short sentence."
            )
            .voice(voice_for(model))
            .tool(get_weather)
            .before_tool_callback(log_call)
            .after_tool_callback(tool_result_printer)
            .build()
        )
        handler = ConsoleHandler()
        runner = RealtimeRunner(agent=agent, event_handler=handler, agent_event_sink=handler.sink)
        await converse(runner, handler, args.question or DEFAULT_QUESTIONS, args.timeout)
        say(
            "info", f"{runner.metrics.tool_calls} tool call(s), {len(handler.audio)} bytes of audio"
        )
    return 0


if __name__ == "__main__":
    p = parser(__doc__.split("\n\n")[0] if __doc__ else "")
    p.add_argument("--question", action="append", help="a question (repeat for several turns)")
    sys.exit(run(main, p.parse_args()))

"""A multi-agent system: a receptionist routing callers to booking, support and sales agents.

The receptionist has three sub-agents. Having sub-agents gives it the
``transfer_to_agent`` tool; when the model calls it, the runner hands the
conversation over: the new agent's instruction and tools take effect on the
same conversation (OpenAI: a ``session.update`` on the same connection;
Gemini: a reconnect that resumes the session with the new setup). Here the
caller asks for the booking agent, which then books a table with its own tool.

    python examples/realtime_handoff.py                      # offline simulator
    python examples/realtime_handoff.py --sim-api gemini     # the simulator speaks Gemini Live
    python examples/realtime_handoff.py --provider openai    # needs OPENAI_API_KEY
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

from adk_realtime import CallbackContext, RealtimeAgent, RealtimeRunner, function_tool
from adk_realtime.models import RealtimeModel

DEFAULT_MESSAGES = [
    "Hi! Please transfer me to the booking_agent, I want a table.",
    "Book a table for 4 guests tomorrow at 7 pm.",
]


@function_tool
def book_table(guests: int, when: str = "today") -> dict[str, Any]:
    """Reserve a table at the restaurant.

    Args:
        guests: How many people.
        when: Day and time, e.g. "tomorrow at 7 pm".
    """
    return {"confirmation": "R-1042", "guests": guests, "when": when}


@function_tool
def open_ticket(problem: str) -> dict[str, str]:
    """Open a support ticket for a problem the caller reports.

    Args:
        problem: What went wrong, in the caller's words.
    """
    return {"ticket": "T-77", "status": "open"}


@function_tool
def get_price(product: str) -> dict[str, Any]:
    """The price of a product or menu.

    Args:
        product: What the caller asks about.
    """
    return {"product": product, "price_eur": 49}


def announce(ctx: CallbackContext) -> None:
    """``before_agent_callback``: runs when an agent takes over (or the run starts)."""
    say("agent", f"{ctx.agent_name} is on the line ({ctx.reason})")


def build_agents(model: RealtimeModel) -> RealtimeAgent:
    voice = voice_for(model)

    def specialist(name: str, description: str, instruction: str, tool: Any) -> RealtimeAgent:
        return (
            RealtimeAgent.builder(name)
            .model(model)
            .description(description)
            .instruction(instruction)
            .voice(voice)
            .tool(tool)
            .before_agent_callback(announce)
            .after_tool_callback(tool_result_printer)
            .build()
        )

    booking_agent = specialist(
        "booking_agent",
        "table reservations",
        "You take restaurant reservations. Use book_table, then confirm the booking.",
        book_table,
    )
    support_agent = specialist(
        "support_agent",
        "problems with an order or a visit",
        "You help callers with problems. Use open_ticket for anything that needs follow-up.",
        open_ticket,
    )
    sales_agent = specialist(
        "sales_agent",
        "prices, menus and group offers",
        "You answer questions about prices and offers. Use get_price.",
        get_price,
    )
    return (
        RealtimeAgent.builder("receptionist")
        .model(model)
        .instruction(
            "You are a receptionist. Transfer to booking_agent for reservations, "
            "support_agent for problems and sales_agent for prices."
        )
        .voice(voice)
        .sub_agent(booking_agent)
        .sub_agent(support_agent)
        .sub_agent(sales_agent)
        .before_agent_callback(announce)
        .build()
    )


async def main(args: argparse.Namespace) -> int:
    async with open_model(args) as model:
        receptionist = build_agents(model)
        roster = ", ".join(agent.name for agent in receptionist.sub_agents)
        say("info", f"{receptionist.name} can transfer to: {roster}")
        handler = ConsoleHandler()
        runner = RealtimeRunner(
            agent=receptionist, event_handler=handler, agent_event_sink=handler.sink
        )
        await converse(runner, handler, args.message or DEFAULT_MESSAGES, args.timeout)
        active = runner.active_agent.name if runner.active_agent else "none"
        say(
            "info",
            f"{runner.metrics.handoffs} handoff(s), {runner.metrics.tool_calls} tool call(s); "
            f"active agent: {active}",
        )
    return 0


if __name__ == "__main__":
    p = parser(__doc__.split("\n\n")[0] if __doc__ else "")
    p.add_argument("--message", action="append", help="a caller message (repeat for more turns)")
    sys.exit(run(main, p.parse_args()))

"""function_tool schemas, argument conversion, and RealtimeAgent construction."""

from __future__ import annotations

import dataclasses
import datetime
import enum
from typing import Annotated, Any, Literal, Optional

import anyio
import pydantic
import pytest

from adk_realtime import ConfigError, RealtimeAgent, RealtimeConfig, VadConfig, VadMode
from adk_realtime.agent import TRANSFER_TOOL_NAME
from adk_realtime.runner import RunContext
from adk_realtime.tools import FunctionTool, ToolContext, function_tool, json_schema_for


class Unit(enum.Enum):
    C = "celsius"
    F = "fahrenheit"


@dataclasses.dataclass
class Place:
    city: str
    country: str = "FR"


class Booking(pydantic.BaseModel):
    name: str
    guests: int


class FakeModel:
    provider = "openai"
    model_id = "fake"
    input_sample_rate = 24000


def test_schema_from_type_hints_and_docstring() -> None:
    @function_tool
    def lookup(
        city: str,
        days: int,
        unit: Unit = Unit.C,
        detail: Literal["short", "long"] = "short",
        tags: list[str] | None = None,
        extra: dict[str, float] | None = None,
        ratio: float = 0.5,
        strict: bool = False,
    ) -> str:
        """Look up a forecast.

        Args:
            city: Where.
            days: How many days ahead.
        """
        return ""

    assert lookup.name == "lookup"
    assert lookup.description == "Look up a forecast."
    props = lookup.parameters["properties"]
    assert props["city"] == {"type": "string", "description": "Where."}
    assert props["days"]["type"] == "integer"
    assert props["unit"] == {
        "type": "string",
        "enum": ["celsius", "fahrenheit"],
        "default": "celsius",
    }
    assert props["detail"]["enum"] == ["short", "long"]
    assert props["tags"] == {
        "type": "array",
        "items": {"type": "string"},
        "nullable": True,
        "default": None,
    }
    assert props["extra"]["additionalProperties"] == {"type": "number"}
    assert props["ratio"]["type"] == "number" and props["strict"]["type"] == "boolean"
    assert lookup.parameters["required"] == ["city", "days"]


def test_schema_for_dataclass_pydantic_and_optional() -> None:
    assert json_schema_for(Place) == {
        "type": "object",
        "properties": {"city": {"type": "string"}, "country": {"type": "string"}},
        "required": ["city"],
    }
    schema = json_schema_for(Booking)
    assert schema["properties"]["guests"]["type"] == "integer"
    assert json_schema_for(Optional[int]) == {"type": "integer", "nullable": True}  # noqa: UP045
    with pytest.raises(TypeError, match="cannot describe"):
        json_schema_for(object)


class Guest(pydantic.BaseModel):
    name: str


class Party(pydantic.BaseModel):
    host: Guest
    guests: list[Guest] = []


def test_nested_pydantic_models_are_inlined_so_the_schema_stands_alone() -> None:
    @function_tool
    async def book(party: Party) -> str:
        """Book."""
        return ""

    text = repr(book.parameters)
    assert "$ref" not in text and "$defs" not in text and "'title'" not in text
    guest = {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}
    party = book.parameters["properties"]["party"]
    assert party["properties"]["host"] == guest
    assert party["properties"]["guests"]["items"] == guest


def test_annotated_and_rest_docstrings_describe_parameters() -> None:
    @function_tool
    def order(item: Annotated[str, "what to order"], count: int = 1) -> str:
        """Order something.

        :param count: how many
            of them.
        :returns: a confirmation
        """
        return ""

    props = order.parameters["properties"]
    assert props["item"] == {"type": "string", "description": "what to order"}
    assert props["count"]["description"] == "how many of them."
    assert order.description == "Order something."


def test_an_unsupported_parameter_type_names_the_tool_and_parameter() -> None:
    def remind(when: datetime.datetime) -> str:
        return ""

    with pytest.raises(TypeError, match="tool 'remind': parameter 'when': cannot describe"):
        function_tool(remind)


@pytest.mark.anyio
async def test_arguments_are_converted_to_the_hinted_types(anyio_backend: str) -> None:
    seen: dict[str, Any] = {}

    @function_tool
    async def book(place: Place, booking: Booking, unit: Unit, ctx: ToolContext) -> str:
        seen.update(place=place, booking=booking, unit=unit, ctx=ctx)
        return "ok"

    ctx = ToolContext("c1", "book", {})
    out = await book.call(
        {"place": {"city": "Paris"}, "booking": {"name": "A", "guests": 2}, "unit": "fahrenheit"},
        ctx,
    )
    assert out == "ok"
    assert seen["place"] == Place("Paris") and seen["booking"].guests == 2
    assert seen["unit"] is Unit.F and seen["ctx"] is ctx
    assert "ctx" not in book.parameters["properties"]


@pytest.mark.anyio
async def test_sync_tools_run_in_a_worker_thread(anyio_backend: str) -> None:
    import threading

    main_thread = threading.get_ident()

    @function_tool
    def where() -> int:
        return threading.get_ident()

    assert await where.call({}, ToolContext("c", "where", {})) != main_thread


@pytest.mark.anyio
async def test_missing_and_unexpected_arguments_raise(anyio_backend: str) -> None:
    tool = FunctionTool(lambda city: city, name="echo")
    with pytest.raises(TypeError, match="missing required"):
        await tool.call({}, ToolContext("c", "echo", {}))
    with pytest.raises(TypeError, match="unexpected argument"):
        await tool.call({"city": "x", "zip": 1}, ToolContext("c", "echo", {}))


def test_builder_matches_keyword_construction() -> None:
    model: Any = FakeModel()

    @function_tool
    def ping() -> str:
        return "pong"

    built = (
        RealtimeAgent.builder("assistant")
        .model(model)
        .instruction("Be brief.")
        .global_instruction("Company policy.")
        .voice("alloy")
        .server_vad()
        .modalities(["text", "audio"])
        .tool(ping)
        .build()
    )
    assert built.name == "assistant" and built.voice == "alloy"
    assert built.vad == VadConfig(VadMode.SERVER)
    assert [t.name for t in built.tools] == ["ping"]
    config = anyio.run(built.build_config, RunContext())
    assert config.instruction == "Company policy.\n\nBe brief."
    assert config.modalities == ("text", "audio") and config.tools[0].name == "ping"


def test_build_rejects_missing_model_and_duplicate_tools() -> None:
    with pytest.raises(ConfigError, match="no model"):
        RealtimeAgent.builder("a").build()

    @function_tool
    def t() -> None: ...

    with pytest.raises(ConfigError, match="duplicate tool names: t"):
        RealtimeAgent.builder("a").model(FakeModel()).tool(t).tool(t).build()  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("wrong", "field"),
    [
        (lambda b: b.model("gpt-realtime"), "model must be a RealtimeModel"),
        (lambda b: b.model(FakeModel()).tool(42), "a tool is a function or a Tool"),
        (lambda b: b.model(FakeModel()).sub_agent("sales"), "sub-agents must be RealtimeAgents"),
        (lambda b: b.model(FakeModel()).vad("server"), "vad must be a VadConfig"),
    ],
)
def test_build_names_what_is_wrong_with_a_misplaced_value(wrong: Any, field: str) -> None:
    with pytest.raises(ConfigError, match=field):
        wrong(RealtimeAgent.builder("a")).build()


def test_instruction_provider_may_be_async_and_global_is_prepended() -> None:
    async def provider(ctx: RunContext) -> str:
        return f"User is {ctx.state['user']}."

    agent = RealtimeAgent(
        "a",
        FakeModel(),
        instruction_provider=provider,
        global_instruction="G.",  # type: ignore[arg-type]
    )
    config = anyio.run(agent.build_config, RunContext(state={"user": "Ada"}))
    assert config.instruction == "G.\n\nUser is Ada."


def test_sub_agents_add_the_transfer_tool_with_their_names() -> None:
    model: Any = FakeModel()
    booking = RealtimeAgent("booking_agent", model, description="reservations")
    support = RealtimeAgent("support_agent", model)
    root = RealtimeAgent(
        "receptionist", model, instruction="Route calls.", sub_agents=[booking, support]
    )
    config = anyio.run(root.build_config, RunContext())
    transfer = next(t for t in config.tools if t.name == TRANSFER_TOOL_NAME)
    assert transfer.parameters["properties"]["agent_name"]["enum"] == [
        "booking_agent",
        "support_agent",
    ]
    assert "booking_agent: reservations" in (config.instruction or "")
    assert root.find_agent("support_agent") is support


def test_config_with_methods_validate() -> None:
    config = RealtimeConfig().with_instruction("x").with_voice("alloy")
    assert config.instruction == "x"
    with pytest.raises(ConfigError, match="temperature"):
        config.with_temperature(5.0)
    with pytest.raises(ConfigError, match=r"vad\.threshold"):
        VadConfig(threshold=2.0)
    with pytest.raises(ConfigError, match="modalities"):
        RealtimeConfig(modalities=("video",))


def test_runner_extra_tools_may_be_plain_functions() -> None:
    from adk_realtime import RealtimeRunner

    def get_time(timezone: str) -> str:
        """The time in a timezone."""
        return "noon"

    for runner in (
        RealtimeRunner(model=FakeModel(), tools=[get_time]),  # type: ignore[arg-type]
        RealtimeRunner.builder().model(FakeModel()).tool(get_time).build(),  # type: ignore[arg-type]
    ):
        (tool,) = runner.extra_tools
        assert tool.name == "get_time" and tool.parameters["required"] == ["timezone"]


def test_a_tool_result_holding_nan_is_sent_as_valid_json() -> None:
    """Python writes float('nan') as the bare token NaN, which is not JSON. Non-finite
    floats go out as the strings proto3 JSON uses, so both providers get strict JSON."""
    import json
    import math

    import numpy as np

    from adk_realtime.sansio import events as ev
    from adk_realtime.sansio.gemini.protocol import GeminiProtocol
    from adk_realtime.sansio.openai.protocol import OpenAIProtocol
    from adk_realtime.tools import encode_tool_output
    from tests import oracles_gemini, oracles_openai

    def strict(text: str) -> Any:
        def refuse(token: str) -> Any:
            raise AssertionError(f"{token} is not JSON")

        return json.loads(text, parse_constant=refuse)

    result = {"v": math.nan, "w": [math.inf, -math.inf, 1.5], "t": (np.float64("nan"),)}
    output = encode_tool_output(result)
    assert strict(output) == {"v": "NaN", "w": ["Infinity", "-Infinity", 1.5], "t": ["NaN"]}
    assert strict(encode_tool_output(math.inf)) == "Infinity"
    assert encode_tool_output({"ok": 1.0}) == '{"ok": 1.0}'  # finite results are unchanged
    answer = ev.ItemCreate(tool_response=ev.ToolResponse("c1", output, "f"))

    openai = OpenAIProtocol()
    openai.send_event(answer)
    [message] = openai.data_to_send()
    oracles_openai.validate_ga_client(message)
    assert strict(strict(message)["item"]["output"])["v"] == "NaN"

    gemini = GeminiProtocol("gemini-live")
    gemini.send_event(answer)
    [message] = gemini.data_to_send()
    oracles_gemini.validate_client(message)
    [response] = strict(message)["toolResponse"]["functionResponses"]
    assert response["response"] == {"result": strict(output)}


@pytest.mark.parametrize("bad", [0, -1.0, float("nan"), True, "30"])
def test_a_tool_timeout_that_is_not_seconds_is_refused_where_it_is_set(bad: Any) -> None:
    from adk_realtime import RealtimeRunner

    def lookup() -> str:
        """Looks up."""
        return "x"

    with pytest.raises(ConfigError, match="timeout"):
        FunctionTool(lookup, timeout=bad)
    with pytest.raises(ConfigError, match="timeout"):
        function_tool(timeout=bad)(lookup)
    with pytest.raises(ConfigError, match="tool_timeout"):
        RealtimeRunner(model=FakeModel(), tool_timeout=bad)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="tool_timeout"):
        RealtimeRunner.builder().model(FakeModel()).tool_timeout(bad).build()  # type: ignore[arg-type]

    class CustomTool:  # a Tool of one's own may carry a timeout too
        name = "custom"
        description = "custom"
        timeout = bad

        @property
        def parameters(self) -> dict[str, Any]:
            return {"type": "object", "properties": {}}

        async def call(self, arguments: dict[str, Any], ctx: ToolContext) -> Any:
            return None

    sub = RealtimeAgent("sub", FakeModel(), tools=[CustomTool()])  # type: ignore[arg-type, list-item]
    root = RealtimeAgent("root", FakeModel(), sub_agents=[sub])  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"custom\.timeout"):
        RealtimeRunner(agent=root)  # found before the run, not when the model calls it


def test_tool_timeouts_default_to_the_runners_and_inf_means_none() -> None:
    import math

    from adk_realtime import RealtimeRunner
    from adk_realtime.tool_runner import DEFAULT_TOOL_TIMEOUT, time_limit

    def lookup() -> str:
        """Looks up."""
        return "x"

    assert DEFAULT_TOOL_TIMEOUT == 30.0
    assert RealtimeRunner(model=FakeModel()).tool_timeout == 30.0  # type: ignore[arg-type]
    assert time_limit(FunctionTool(lookup), 12.0) == 12.0
    assert time_limit(function_tool(timeout=2)(lookup), 12.0) == 2.0
    assert time_limit(FunctionTool(lookup, timeout=math.inf), 12.0) == math.inf

"""``examples/realtime_long_call.py`` over ``--provider openai|gemini`` with a key.

The offline runs (the in-process simulator) are in the examples table of
``tests/test_examples.py``; here the example takes the real-provider code path of
``examples/_common.py``, at a keyed simulator that caps sessions and drops a connection,
and must show the same call: switches, the follow-up answered from the conversation, the
saved history seeding a new session.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.long_call_output import check_long_call
from tests.test_examples import KEY, Launched, clean_env


@pytest.fixture(scope="module")
def long_call_real_runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Launched]:
    """realtime_long_call.py over --provider openai|gemini with a key, each at its own keyed
    simulator that ends sessions after 2.4 s and drops the first connection after 1.5 s
    (after the first answer: the public Gemini API has no transparent resumption)."""
    from anyio.from_thread import start_blocking_portal

    from adk_realtime.drivers.simulator import run_simulator
    from adk_realtime.sansio.sim.hub import SimulatorHub

    def capped() -> Any:
        hub = SimulatorHub(pace=0, api_key=KEY, session_max_seconds=2.4, drop_after=1.5)
        return run_simulator(hub=hub)

    tmp = tmp_path_factory.mktemp("long-call-real")
    with (
        start_blocking_portal() as portal,
        portal.wrap_async_context_manager(capped()) as openai,
        portal.wrap_async_context_manager(capped()) as gemini,
    ):
        runs = Launched(
            tmp,
            {
                provider: [
                    "realtime_long_call.py",
                    *("--provider", provider, "--base-url", f"{{{provider}}}"),
                    *("--switches", "4", "--save", f"{{tmp}}/history-{provider}.json"),
                ]
                for provider in ("openai", "gemini")
            },
            clean_env(OPENAI_API_KEY=KEY, GOOGLE_API_KEY=KEY),
            openai=openai.openai_base_url,
            gemini=gemini.url,
        )
        yield runs
        runs.stop()


@pytest.mark.parametrize("provider", ["openai", "gemini"])
def test_a_long_call_over_the_real_provider_path_carries_on_and_seeds_a_new_session(
    long_call_real_runs: Launched, provider: str
) -> None:
    result = long_call_real_runs.result(provider)
    history_file = long_call_real_runs.tmp / f"history-{provider}.json"
    check_long_call(result, provider, history_file, spoken=False)
    assert not result.kind("sim") and not result.kind("heard")  # nothing of the simulator's

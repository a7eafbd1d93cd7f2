import pytest


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """Every driver test runs under both asyncio and trio."""
    return str(request.param)

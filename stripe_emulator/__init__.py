"""A local HTTP server that behaves like Stripe's REST API (GET lists, retrieve, search, events), for
tests, benchmarks and the demo. See README.md.

    from stripe_emulator import start_emulator
    with start_emulator({"dataset": {"customers": 500}}) as emu:
        requests.get(emu.url + "/v1/customers", auth=(emu.api_key, ""))
"""

from .client import EmulatorClient
from .config import EmulatorConfig, ResourceSpec
from .emulator import Emulator, start_emulator
from .process import EmulatorProcess, spawn_emulator

__all__ = [
    "Emulator",
    "EmulatorClient",
    "EmulatorConfig",
    "EmulatorProcess",
    "ResourceSpec",
    "spawn_emulator",
    "start_emulator",
]

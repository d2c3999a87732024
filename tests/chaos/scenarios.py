"""The scenarios by name, in the order a run takes them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from .common import Context
from .deletion import delete_503, out_of_band_delete
from .fault_storm import fault_storm
from .kill_storm import kill_storm
from .report import ScenarioFigures
from .restarts import apiserver_restart, emulator_restart, etcd_restart

Scenario = Callable[[Context], Awaitable[ScenarioFigures]]
SCENARIOS: dict[str, Scenario] = {
    "kill-storm": kill_storm,
    "fault-storm": fault_storm,
    "apiserver-restart": apiserver_restart,
    "etcd-restart": etcd_restart,
    "emulator-restart": emulator_restart,
    "delete-503": delete_503,
    "out-of-band-delete": out_of_band_delete,
}

"""How big each scenario is: the default (CI, well under 10 minutes on two cores) and `--long`."""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class ChaosOptions:
    seed: int = 1
    long: bool = False
    kill_objects: int = 30
    kill_wave: int = 3
    """Objects applied before each kill cycle of the create phase, until all are applied."""
    create_kills: int = 20
    delete_kills: int = 8
    hold_seconds: float = 3.0
    hold_fraction: float = 0.5
    fault_objects: int = 30
    restart_objects: int = 6
    emulator_objects: int = 6
    delete_objects: int = 10
    storm_seconds: float = 12.0
    out_of_band_objects: int = 6
    converge_timeout: float = 150.0
    """How long any phase may take to converge before its objects count as unconverged."""
    stall_seconds: float = 130.0
    """A convergence wait gives up early once no object has changed for this long. Longer than one API
    call may keep retrying in the client (its 120 s deadline): an object whose delete meets a run of
    faults shows Synced=False at the first retry and then nothing until the call ends (a long run once
    saw 80 s)."""
    edit_deadline: float = 30.0
    """An edit made during or after a control-plane restart must show in status this soon."""

    @classmethod
    def long_run(cls, seed: int = 1) -> ChaosOptions:
        """>= 200 kill points, >= 50 of them while a create is in flight (one new object per cycle)."""
        return replace(cls(seed=seed, long=True), kill_objects=150, kill_wave=1, create_kills=170, delete_kills=45,
                       fault_objects=50, restart_objects=12, emulator_objects=12, delete_objects=20,
                       storm_seconds=30.0, out_of_band_objects=10, converge_timeout=300.0)

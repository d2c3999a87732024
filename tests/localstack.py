"""A local stack on 127.0.0.1 for the harnesses that run outside pytest (benchmarks, chaos): the control
plane with the CRDs, an emulator in a thread and its control client. Subclasses add what they run on
top in `start()`; `close()` stops everything in reverse order, also after a failed start."""

from __future__ import annotations

import contextlib
from pathlib import Path
from types import TracebackType
from typing import Self

from siptrunk_operator.emulator import EmulatorControl, EmulatorServer
from siptrunk_operator.localcluster.controlplane import LocalControlPlane
from siptrunk_operator.sandbox import install_crds


class LocalStack:
    def __init__(self, workdir: Path, emulator: EmulatorServer) -> None:
        self.workdir = workdir
        self._stack = contextlib.ExitStack()
        self.plane = LocalControlPlane(workdir=workdir / "cluster")
        self.emulator = emulator
        self.emulator_url = ""

    def __enter__(self) -> Self:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def start(self) -> None:
        self._stack.callback(self.plane.stop)
        self.plane.start()
        install_crds(self.plane)
        self.emulator_url = self.emulator.start_in_thread()
        self._stack.callback(lambda: self.emulator.stop())  # the emulator may be replaced by a restart
        self.control = EmulatorControl(self.emulator_url)
        self._stack.callback(self.control.close)

    def close(self) -> None:
        self._stack.close()

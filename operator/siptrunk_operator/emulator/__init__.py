"""An emulator of Dialogflow's ``projects.locations.sipTrunks`` REST API (v2 and v2beta1).

See ``control.py`` for the control endpoint, ``errors.py`` for the error reasons, ``iam.py`` for
authentication and ``connections.py`` for the connection script.
"""

from .config import EmulatorConfig
from .control_client import EmulatorControl, EmulatorControlError
from .server import EmulatorServer

__all__ = ["EmulatorConfig", "EmulatorControl", "EmulatorControlError", "EmulatorServer"]

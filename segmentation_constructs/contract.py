"""The events, environment variables, payloads and errors the constructs share with their Lambda functions.

One text for both halves: this module is ``lambda_src/shared/contract.py``, the file every function ships as
``shared.contract``, loaded here under this name (from the installed package or the checkout). Use it to write
rules on the library's events: ``contract.SEGMENT_READY``, ``contract.IMPORT_STATE_CHANGE``, ...
"""

import importlib.util
import sys

from segmentation_constructs._lambda import LAMBDA_SRC

_spec = importlib.util.spec_from_file_location(__name__, LAMBDA_SRC / "shared" / "contract.py")
_module = importlib.util.module_from_spec(_spec)
sys.modules[__name__] = _module
_spec.loader.exec_module(_module)

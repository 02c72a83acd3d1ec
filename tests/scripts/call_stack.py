"""Call-stack helper shared by the fault-injection tests and the scripts they start."""
from __future__ import annotations

import sys


def on_stack(name: str) -> bool:
    """Whether a function named ``name`` is among the callers of the caller."""
    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_code.co_name == name:
            return True
        frame = frame.f_back
    return False

"""Isolation-matrix registrations of the domain apps, one module an area.

Each module defines REGISTRATIONS = {Model: Registration(factory, payload)}; tests/isolation.py
merges them into its REGISTRY.
"""

import importlib
import pkgutil


def collected() -> dict:
    """Every module's REGISTRATIONS merged."""
    merged: dict = {}
    for module_info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{module_info.name}")
        merged.update(getattr(module, "REGISTRATIONS", {}))
    return merged

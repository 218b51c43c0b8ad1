"""Every notebook's exercises, one module per notebook; importing this package registers them.

A new notebook adds ``labkit/exercises/sets/<topic>.py`` and nothing else: every module here
is imported.
"""

import importlib
import pkgutil

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")

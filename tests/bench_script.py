"""A script of ``bench/`` loaded as a module, for the tests of its functions."""

import importlib.util
import sys
from types import ModuleType

from built_book import ROOT

BENCH = ROOT / "bench"


def load_bench_script(name: str) -> ModuleType:
    """``bench/NAME.py`` as the module ``NAME``: registered under that name (a worker process
    finds its functions by it), with ``bench/`` on the path (it imports ``provenance.py``)."""
    if str(BENCH) not in sys.path:
        sys.path.insert(0, str(BENCH))
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module

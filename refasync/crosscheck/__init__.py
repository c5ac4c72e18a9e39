"""Cross-checking another implementation against refasync's golden files.

    python -m refasync.crosscheck --adapter your_adapter.py

An *adapter* is an object or module with any of the functions of the protocol
(``protocol.PROTOCOL``; refasync/golden/README.md); missing ones are SKIP.

    protocol.py   the functions, their arguments and outputs: the one table
    adapter.py    refasync itself as an adapter; loading someone else's
    cases.py      the golden cases, one registered builder each
    golden.py     writing and reading the files (plain arrays), calling an adapter
    compare.py    errors, the per-case rows, the diagnosis of a FAIL
    __main__.py   the command line
"""
from .adapter import RefasyncAdapter, load_adapter, record_trace
from .cases import atari_theta, build_cases
from .compare import check, format_table
from .golden import FORMAT_VERSION, MANIFEST, call, default_reference, load, write
from . import protocol
from .protocol import PROTOCOL

DEFAULT_REFERENCE = default_reference()

__all__ = ["DEFAULT_REFERENCE", "FORMAT_VERSION", "MANIFEST", "PROTOCOL", "RefasyncAdapter", "atari_theta", "protocol",
           "build_cases", "call", "check", "default_reference", "format_table", "load", "load_adapter",
           "record_trace", "write"]

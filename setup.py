"""Compile the hot path with mypyc when a C compiler is at hand.

The modules below are plain, type-checked Python; mypyc turns them into C extensions
(fewer instructions per API request and per connection: docs/performance.md).
Without a compiler, or with ``WHIRLWIND_PURE=1``, Whirlwind installs as pure Python and
behaves the same, only slower.
"""

from __future__ import annotations

import os
import sys

from setuptools import setup

COMPILED = [
    "src/whirlwind/web.py",
    "src/whirlwind/eager.py",
    "src/whirlwind/transports/ws_frames.py",
    "src/whirlwind/transports/websocket.py",
    "src/whirlwind/api/json_mapping.py",
    "src/whirlwind/api/http.py",
    "src/whirlwind/api/executor.py",
    "src/whirlwind/node.py",
    "src/whirlwind/hub.py",
    "src/whirlwind/broker/memory.py",
    "src/whirlwind/client/client.py",
    "src/whirlwind/client/protocol.py",
    "src/whirlwind/client/subscription.py",
    "src/whirlwind/client/queue.py",
    "src/whirlwind/protocol/json_codec.py",
    "src/whirlwind/protocol/messages.py",
    "src/whirlwind/client/events.py",
    "src/whirlwind/channels.py",
    "src/whirlwind/auth/tokens.py",
]


# The same build wherever it runs: third-party packages are typed Any (their stubs do not
# always match what they return at run time, which compiled code checks), and the strict
# lint settings of pyproject.toml are for `mypy src`, not for the compiler.
MYPY_FLAGS = ["--config-file=", "--no-site-packages", "--ignore-missing-imports"]

# Commands that build extensions; the others (egg_info, dist_info, ...) skip the type check.
BUILDS = {"build", "build_ext", "bdist_wheel", "editable_wheel", "develop", "install"}


def ext_modules() -> list[object]:
    if os.environ.get("WHIRLWIND_PURE", "") not in ("", "0"):
        return []
    if not BUILDS.intersection(sys.argv[1:]):
        return []
    try:
        from mypyc.build import mypycify

        extensions = mypycify(MYPY_FLAGS + COMPILED, opt_level="3", group_name="whirlwind")
    except (Exception, SystemExit) as exc:  # no mypyc, or its type check failed
        print(
            f"whirlwind: not compiling with mypyc ({exc}); installing pure Python", file=sys.stderr
        )
        return []
    for extension in extensions:
        extension.optional = True  # no C compiler: the .py modules are used
    return extensions


setup(ext_modules=ext_modules())

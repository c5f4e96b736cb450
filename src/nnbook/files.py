"""Writing a file so that a crash never leaves half of it, with the permissions of a plain write.

``tempfile.mkstemp`` creates its file with mode 0600 whatever the umask, so a file renamed into
place from it could be read by its owner alone. ``atomic_write`` creates the temporary file the
way ``open(path, "w")`` creates a file (mode 0666 less the umask), or keeps the mode of the file
it replaces, as a plain write to an existing file does.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path

#: What ``open(path, "w")`` asks the kernel for; the kernel takes the umask off.
PLAIN_FILE_MODE = 0o666


def atomic_write(path: str | os.PathLike[str], write: Callable[[Path], None]) -> Path:
    """Call ``write(temporary)`` for a file beside ``path``, then rename it to ``path``.

    On any error the temporary file is removed and an existing ``path`` is left untouched.
    Returns ``path`` as a ``Path``.
    """
    target = Path(path)
    temporary = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
    # O_EXCL: never reuse a name someone else holds; the mode is filtered by the umask.
    os.close(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PLAIN_FILE_MODE))
    try:
        write(temporary)
        if target.exists():
            os.chmod(temporary, target.stat().st_mode & 0o7777)  # a plain write keeps the mode
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return target

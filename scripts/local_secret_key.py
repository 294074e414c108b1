"""Print this clone's local SECRET_KEY, making it on first use (`make run`, `make test`, `make bench`).

The key is random, kept in the file named as the argument (default .local/secret_key, ignored by git)
and readable by its owner only, so demo sessions and encrypted rows survive a restart. Production sets
SECRET_KEY itself (docs/DEPLOY.md); this is only for a clone on a developer's machine.
"""

import os
import secrets
import sys
import tempfile
from pathlib import Path

DEFAULT_PATH = Path(".local/secret_key")


def local_secret_key(path: Path = DEFAULT_PATH) -> str:
    """The key stored in `path`, written there first (mode 0600) when the file does not exist."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor, draft = tempfile.mkstemp(dir=path.parent, prefix=".secret_key.")  # mode 0600
        try:
            with os.fdopen(descriptor, "w") as file:
                file.write(secrets.token_urlsafe(50) + "\n")
            # A link appears whole and fails if the file exists: of two runs at once, both read one key.
            os.link(draft, path)
        except FileExistsError:
            pass
        finally:
            os.unlink(draft)
    return path.read_text().strip()


if __name__ == "__main__":
    print(local_secret_key(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_PATH))

"""litestar imports `multipart` (the one-file `multipart.py`), but python-multipart also installs a `multipart/`
package beside it, a shim that finds `multipart.py` on the file system at run time, which a one-file bundle does not
have. Point the analysis at a folder holding only the real module, so that is what gets bundled.
"""

import shutil
import sys
from pathlib import Path

from PyInstaller import config


def pre_find_module_path(api):
    for entry in sys.path:
        module = Path(entry or ".", "multipart.py")
        if module.is_file() and Path(entry or ".", "multipart").is_dir():
            folder = Path(config.CONF["workpath"]) / "multipart-module"
            folder.mkdir(parents=True, exist_ok=True)
            shutil.copy2(module, folder / "multipart.py")
            api.search_dirs = [str(folder)]
            return

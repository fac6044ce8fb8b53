# PyInstaller runtime hook: runs inside the packaged app before Blazz starts.
import os
import sys
from pathlib import Path

_bundle = Path(getattr(sys, "_MEIPASS", Path(sys.executable).parent))

# python-magic (neonize's MIME sniffing) loads libmagic with no database path: point it at the copy in the bundle.
_mgc = _bundle / "magic" / "magic.mgc"
if _mgc.is_file():
    os.environ.setdefault("MAGIC", str(_mgc))

# The bootloader puts the bundle first on the library path; the dynamic loader has read it already, and programs
# Blazz starts (the web browser) must get the person's own libraries back, not ours.
for _var in ("LD_LIBRARY_PATH", "DYLD_LIBRARY_PATH"):
    if str(_bundle) not in os.environ.get(_var, "").split(os.pathsep):
        continue
    if _var + "_ORIG" in os.environ:
        os.environ[_var] = os.environ[_var + "_ORIG"]
    else:
        del os.environ[_var]

#!/usr/bin/env bash
# Build the one-file Blazz binary with PyInstaller into packaging/dist/ (blazz on Linux and macOS, blazz.exe on
# Windows through Git Bash; macOS also gets packaging/dist/Blazz.app).
#   bash packaging/build.sh            # reuse the cached binary when nothing that goes into it has changed
#   bash packaging/build.sh --force    # build again anyway
#   bash packaging/build.sh --status   # exit 0 when packaging/dist/blazz matches the sources, 1 when not
# A build takes one to two minutes on two cores. The cache key is a hash of blazz/ (as it is on disk), the spec
# and its hooks, pyproject.toml, the Python version and every installed package's version; cached binaries live in
# $BLAZZ_BUILD_CACHE (default ~/.cache/blazz/builds, the newest three are kept; "off" turns the cache off).
# PYTHON names the interpreter whose environment is bundled (default .venv/bin/python).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="$PWD"
PY="${PYTHON:-$ROOT/.venv/bin/python}"
DIST="$ROOT/packaging/dist"
WORK="$ROOT/packaging/build"
CACHE="${BLAZZ_BUILD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/blazz/builds}"
KEEP=3
mode="${1:-build}"
case "$mode" in build | --force | --status) ;; *) echo "usage: bash packaging/build.sh [--force | --status]" >&2; exit 2 ;; esac

say() { printf '==> %s\n' "$*"; }
exe="blazz"
case "$(uname -s)" in
  MINGW* | MSYS*) exe="blazz.exe" ;;
  Darwin) CACHE=off ;; # packaging/dist/blazz is a folder there (inside Blazz.app too): no single file to cache
esac

if [[ ! -x "$PY" ]]; then
  echo "build: no Python at $PY; create the virtualenv first (see README.md) or set PYTHON." >&2
  exit 2
fi

sources_key() {
  # In Python rather than sha256sum/find, which differ between Linux, macOS and Git Bash.
  "$PY" - <<'PYTHON'
import hashlib
import importlib.metadata as md
import platform
import sys
from pathlib import Path

h = hashlib.sha256(f"{sys.version} {platform.machine()} {platform.system()}\n".encode())
for dist in sorted({f"{d.metadata['Name']}=={d.version}" for d in md.distributions() if d.metadata["Name"]}):
    h.update(dist.encode() + b"\n")
files = {Path("pyproject.toml"), Path("packaging/blazz.spec"), Path("packaging/rthook_blazz.py")}
for base in ("blazz", "packaging/hooks"):
    files |= {p for p in Path(base).rglob("*") if p.is_file() and "__pycache__" not in p.parts}
for path in sorted(files):
    h.update(path.as_posix().encode() + b"\0" + path.read_bytes())
print(h.hexdigest()[:16])
PYTHON
}

key="$(sources_key)"
if [[ "$mode" == --status ]]; then
  if [[ -x "$DIST/$exe" && "$(cat "$DIST/$exe.key" 2>/dev/null)" == "$key" ]]; then
    echo "packaging/dist/$exe is current ($key)"
    exit 0
  fi
  echo "packaging/dist/$exe is missing or older than the sources; build it with: bash packaging/build.sh"
  exit 1
fi

if [[ "$mode" != --force && -x "$DIST/$exe" && "$(cat "$DIST/$exe.key" 2>/dev/null)" == "$key" ]]; then
  say "packaging/dist/$exe is current ($key), nothing to build"
  exit 0
fi
cached="$CACHE/$key/$exe"
if [[ "$mode" != --force && "$CACHE" != off && -x "$cached" ]]; then
  mkdir -p "$DIST"
  cp -p "$cached" "$DIST/$exe.tmp" && mv -f "$DIST/$exe.tmp" "$DIST/$exe"
  echo "$key" >"$DIST/$exe.key"
  say "Took packaging/dist/$exe from the build cache ($key, $(du -sm "$DIST/$exe" | cut -f1) MB)"
  exit 0
fi

# What the spec bundles from the system: libmagic and its database (neonize's MIME sniffing). PyInstaller itself
# needs objdump (binutils) on Linux.
if [[ "$(uname -s)" == Linux ]]; then
  missing=()
  # grep reads everything (no -q): an early exit would SIGPIPE ldconfig and fail the pipeline under pipefail
  ldconfig -p 2>/dev/null | grep 'libmagic\.so\.1' >/dev/null || missing+=(libmagic1)
  [[ -n "${BLAZZ_MAGIC_DB:-}" || -f /usr/share/misc/magic.mgc || -f /usr/lib/file/magic.mgc ]] || missing+=(libmagic-mgc)
  command -v objdump >/dev/null || missing+=(binutils)
  if ((${#missing[@]})); then
    if [[ $EUID -eq 0 ]] && command -v apt-get >/dev/null; then
      say "Installing ${missing[*]} (bundled into the binary)"
      apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq "${missing[@]}"; }
    else
      echo "build: missing ${missing[*]}; install them (Debian: sudo apt-get install -y ${missing[*]})" >&2
      exit 1
    fi
  fi
fi

if ! "$PY" -c 'import PyInstaller' 2>/dev/null; then
  say "Installing PyInstaller (the build extra)"
  "$PY" -m pip install -q --disable-pip-version-check -e "$ROOT[build]"
fi

say "Building packaging/dist/$exe with PyInstaller (about a minute or two)"
started=$SECONDS
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
if ! "$PY" -m PyInstaller --noconfirm --log-level WARN --distpath "$DIST" --workpath "$WORK" \
    packaging/blazz.spec >"$log" 2>&1; then
  cat "$log" >&2
  echo "build: PyInstaller failed (output above)." >&2
  exit 1
fi
echo "$key" >"$DIST/$exe.key"
size_mb="$(du -sm "$DIST/$exe" | cut -f1)"
say "Built packaging/dist/$exe: $size_mb MB in $((SECONDS - started)) s ($key)"

if [[ "$CACHE" != off ]]; then
  mkdir -p "$CACHE/$key"
  cp -p "$DIST/$exe" "$CACHE/$key/$exe.tmp" && mv -f "$CACHE/$key/$exe.tmp" "$CACHE/$key/$exe"
  # Keep the newest few builds: a cache, not an archive.
  ls -1dt "$CACHE"/*/ | tail -n +$((KEEP + 1)) | while read -r old; do rm -rf "$old"; done
fi

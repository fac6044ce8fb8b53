#!/usr/bin/env bash
# Wrap the one-file Linux binary into a Debian package: packaging/dist/blazz_<version>_<arch>.deb
#   bash packaging/build-deb.sh          (builds packaging/dist/blazz first when it is missing or out of date)
# Installs /usr/lib/blazz/blazz, the `blazz` command, a menu entry that runs `blazz desktop` in a terminal window
# (the Linux binary opens the browser; closing that window stops Blazz cleanly) and the icon. Needs dpkg-deb.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
command -v dpkg-deb >/dev/null || { echo "build-deb: needs dpkg-deb (Debian/Ubuntu)" >&2; exit 2; }
bash packaging/build.sh
BIN="packaging/dist/blazz"
version="$("$BIN" --version | awk '{ print $2 }')"
arch="$(dpkg --print-architecture)"
# The binary links against the build machine's C library and needs at least that version.
glibc="$(ldd --version | awk 'NR == 1 { print $NF }')"
# Debian's convention for who built a package: DEBFULLNAME and DEBEMAIL, else git's user.
maintainer="${DEBFULLNAME:-$(git config user.name 2>/dev/null || echo "$USER")} <${DEBEMAIL:-$(git config user.email 2>/dev/null || echo "$USER@$(hostname)")}>"
stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
root="$stage/blazz_${version}_${arch}"

install -Dm755 "$BIN" "$root/usr/lib/blazz/blazz"
mkdir -p "$root/usr/bin"
ln -s ../lib/blazz/blazz "$root/usr/bin/blazz"
install -Dm644 blazz/assets/img/favicon.svg "$root/usr/share/icons/hicolor/scalable/apps/blazz.svg"
install -Dm644 /dev/stdin "$root/usr/share/applications/blazz.desktop" <<'EOF'
[Desktop Entry]
Type=Application
Name=Blazz
GenericName=WhatsApp business inbox
Comment=Inbox, contacts and campaigns for your WhatsApp numbers
Exec=blazz desktop
Icon=blazz
Terminal=true
Categories=Office;Network;
StartupNotify=false
EOF
install -Dm644 /dev/stdin "$root/usr/share/doc/blazz/copyright" <<'EOF'
Blazz: a self-hosted WhatsApp business inbox, CRM and campaign tool. License: MIT.
The binary bundles the Python interpreter and third-party packages and libraries, each under its own license
(Python Software Foundation License, BSD, MIT, Apache-2.0, MPL-2.0 and others; see each project).
EOF
mkdir -p "$root/DEBIAN"
cat >"$root/DEBIAN/control" <<EOF
Package: blazz
Version: $version
Architecture: $arch
Maintainer: $maintainer
Depends: libc6 (>= $glibc)
Recommends: xdg-utils
Section: net
Priority: optional
Installed-Size: $(du -ks "$root/usr" | cut -f1)
Description: self-hosted WhatsApp business inbox, CRM and campaigns
 One program runs the web app, the database, the WhatsApp sessions and the
 campaign scheduler on this computer. Run "blazz" to serve it on
 http://127.0.0.1:8000/, "blazz --lan" to let staff on your network in, or
 start Blazz from the applications menu to open it in your browser.
EOF

out="packaging/dist/blazz_${version}_${arch}.deb"
dpkg-deb --root-owner-group --build "$root" "$out" >/dev/null
echo "==> Built $out ($(du -m "$out" | cut -f1) MB)"

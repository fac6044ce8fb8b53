"""LAN mode: the addresses staff on the same network open, a QR code for phones, and the owner's saved choice.

The Settings page calls `status()` to show the URLs and `remember()` for its switch; `blazz serve` and
`blazz desktop` ask `chosen()` before they bind, so a change applies from the next start. A flag given at the start
wins for that start: `--lan` listens on the network and `--no-lan` keeps Blazz to this computer whatever the switch
says (and `--host` names the address outright); without a flag the switch decides. The running server is not moved:
switching its listening address while people are signed in from phones would drop them mid-work.
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import dataclass
from pathlib import Path

from blazz.config import Settings
from blazz.i18n import N_

ALL_INTERFACES = "0.0.0.0"
LOOPBACK = "127.0.0.1"
PREFERENCE_FILE = "network.json"  # in the data dir; read before app.db is open
STAFF_WARNING = N_("Anyone on this network can open the Blazz login page. Give each person their own account "
                   "(Settings → Members) and never share the owner's login.")  # English; the page translates it


@dataclass(frozen=True, slots=True)
class LanUrl:
    url: str
    qr_svg: str  # inline <svg> markup of the URL, sized by its container


@dataclass(frozen=True, slots=True)
class LanStatus:
    enabled: bool  # this process listens on all interfaces
    remembered: bool  # what the toggle saved; differs from `enabled` until the next start
    urls: list[LanUrl]  # empty when disabled or when no network is up
    warning: str = STAFF_WARNING

    @property
    def restart_needed(self) -> bool:
        """The switch asks for something else than this start does (changed since, or a start flag won)."""
        return self.enabled != self.remembered


def lan_addresses() -> list[str]:
    """This machine's IPv4 addresses on the local network (no traffic is sent: connect() on UDP only picks a route)."""
    found: list[str] = []
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: never routed, just selects the outgoing interface
            found.append(probe.getsockname()[0])
    except OSError:
        pass
    try:
        for info in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET):
            addr = str(info[4][0])
            if addr not in found:
                found.append(addr)
    except OSError:
        pass
    return [a for a in found if not a.startswith(("127.", "0."))]


def lan_urls(port: int, scheme: str = "http") -> list[str]:
    return [f"{scheme}://{addr}:{port}/" for addr in lan_addresses()]


def qr_svg(url: str) -> str:
    """The URL as a QR code in inline SVG, dark on transparent, scaled by CSS (phones scan it off the screen)."""
    import segno  # only the Settings page pays for it

    return segno.make_qr(url, error="m").svg_inline(scale=1, border=2, omitsize=True, dark="#111b21", svgclass=None,
                                                   lineclass=None)


def status(settings: Settings) -> LanStatus:
    """What the Settings page shows: is LAN mode on, the saved choice, and each LAN URL with its QR code."""
    enabled = settings.host not in (LOOPBACK, "localhost", "::1")
    urls = [LanUrl(u, qr_svg(u)) for u in lan_urls(settings.port)] if enabled else []
    return LanStatus(enabled=enabled, remembered=remembered(settings.data_dir), urls=urls)


def remembered(data_dir: Path) -> bool:
    """The LAN toggle's saved choice; False when never saved or unreadable (loopback stays the default)."""
    try:
        return json.loads((data_dir / PREFERENCE_FILE).read_text()).get("lan") is True
    except (OSError, ValueError, AttributeError):
        return False


def chosen(flag: bool | None, data_dir: Path) -> bool:
    """Whether a start listens on the network: `--lan`/`--no-lan` when given (the flag wins), else the saved switch."""
    return remembered(data_dir) if flag is None else flag


def remember(data_dir: Path, enabled: bool) -> None:
    """Save the toggle; written whole then renamed, so a crash never leaves half a file."""
    path = data_dir / PREFERENCE_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"lan": bool(enabled)}))
    os.replace(tmp, path)

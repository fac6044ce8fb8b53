"""The `blazz` command: serve (default; desktop in the packaged app), admin tasks, demo data, version."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import getpass
import logging
import signal
import socket
import sys
import urllib.error
import urllib.request
from pathlib import Path

from blazz import __version__, lan, logs
from blazz.config import DEFAULT_PORT, DataDirError, Settings, default_data_dir
from blazz.instance_lock import AlreadyRunning, Holder, InstanceLock, LockError


class CliError(Exception):
    """A problem the person at the terminal can fix; printed without a traceback, exit status 1."""


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", type=Path, default=None,
                        help=f"where Blazz keeps its data (env BLAZZ_DATA_DIR; default {default_data_dir()})")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="blazz", description="Self-hosted WhatsApp inbox, CRM and campaigns.")
    parser.add_argument("--version", action="version", version=f"blazz {__version__}")
    sub = parser.add_subparsers(dest="command")

    serve = sub.add_parser("serve", help="run the web app (the default command)")
    _serve_args(serve)
    _serve_args(parser, top=True)
    desktop = sub.add_parser("desktop", help="open Blazz in its own window (the packaged app's default)")
    _serve_args(desktop, port_help="default: a free one; 8000 with --lan")

    admin = sub.add_parser("admin", help="manage people and workspaces from the terminal")
    admin_sub = admin.add_subparsers(dest="admin_command", required=True)
    cu = admin_sub.add_parser("create-user", help="create a person who can log in")
    cu.add_argument("--email", required=True)
    cu.add_argument("--password", help="prompted for when omitted")
    cu.add_argument("--name", default="")
    _common(cu)
    cw = admin_sub.add_parser("create-workspace", help="create a workspace owned by an existing user")
    cw.add_argument("--name", required=True)
    cw.add_argument("--owner", required=True, help="email of the owner")
    cw.add_argument("--slug", help="the workspace's address part (default: from the name)")
    _common(cw)
    rp = admin_sub.add_parser("reset-password", help="set a new password for a user")
    rp.add_argument("--email", required=True)
    rp.add_argument("--password", help="prompted for when omitted")
    _common(rp)

    ct = admin_sub.add_parser("create-token", help="create an API token for a workspace; prints only the token")
    ct.add_argument("--workspace", required=True, help="the workspace's slug")
    ct.add_argument("--name", required=True, help="what the token is for, e.g. 'Order system'")
    ct.add_argument("--role", choices=["admin", "agent"], default="agent")
    _common(ct)

    demo = sub.add_parser("demo", help="create a demo workspace with generated contacts and history")
    demo.add_argument("--contacts", type=int, default=500)
    demo.add_argument("--messages", type=int, default=5000)
    demo.add_argument("--conversations", type=int, default=None, help="default: half the contacts")
    demo.add_argument("--owner", help="email of the owner (default: the first user, or a new demo user)")
    _common(demo)
    _backup_args(sub)
    return parser


# -- backup, restore, doctor, logs (blazz.backup, blazz.restore, blazz.diagnostics, blazz.logs) -------------------


def _backup_args(sub: argparse._SubParsersAction) -> None:
    bk = sub.add_parser("backup", help="write one consistent archive of the data (works while the server runs)",
                        description="Write a zip archive of everything (or of one workspace) and print its path. "
                        "It holds customer data and account secrets: keep it private.")
    bk.add_argument("--workspace", metavar="SLUG", help="only this workspace (default: everything)")
    bk.add_argument("--output", metavar="DIR", type=Path, help="folder for the archive (default: <data dir>/backups)")
    bk.add_argument("--with-sessions", action="store_true",
                    help="include the WhatsApp session files: they are credentials, anyone holding them can use "
                    "your numbers")
    _common(bk)
    rs = sub.add_parser("restore", help="check an archive, then restore it (stop the server first)",
                        description="Check the archive completely, then put its contents in place of the current "
                        "ones, which are kept in <data dir>/restore-backups/. Refuses, changing nothing, a damaged "
                        "or foreign archive, one from a newer Blazz, or a data dir a running server uses.")
    rs.add_argument("archive", type=Path, metavar="ARCHIVE")
    rs.add_argument("--force", action="store_true", help="replace data that exists here (a workspace with the "
                    "same address, or everything for a full backup)")
    rs.add_argument("--check", action="store_true", help="only check the archive completely; change nothing "
                    "(works while the server runs)")
    _common(rs)
    dr = sub.add_parser("doctor", help="check this install: versions, disk, databases, backups, log",
                        description="Print diagnostics; exits with 1 when something needs fixing.")
    dr.add_argument("--json", action="store_true", help="print the report as JSON")
    dr.add_argument("--quick", action="store_true", help="a faster, lighter database check (quick_check)")
    _common(dr)


def backup_command(args: argparse.Namespace) -> None:
    from blazz import backup

    settings = settings_from(args)
    try:
        result = backup.create_backup(settings.data_dir, args.output, workspace=args.workspace,
                                      with_sessions=args.with_sessions)
    except backup.BackupError as exc:
        raise CliError(str(exc)) from exc
    backup.audit_backup(settings.data_dir, result, "command line")
    print("This archive holds customer data and account secrets: keep it private."
          + (" It includes WhatsApp session files: anyone holding them can use your numbers." if args.with_sessions
             else ""), file=sys.stderr)
    print(result.path)


def restore_command(args: argparse.Namespace) -> None:
    from blazz.restore import RestoreRefused, restore, verify

    if args.check:
        try:
            manifest = verify(args.archive)
        except RestoreRefused as exc:
            raise CliError(str(exc)) from exc
        names = ", ".join(w.slug for w in manifest.workspaces) or "no workspace"
        print(f"{args.archive} is a complete Blazz backup from {manifest.created_at} (Blazz {manifest.blazz_version}, "
              f"{'everything' if manifest.scope == 'all' else 'one workspace'}: {names}); this Blazz can restore it.")
        return
    settings = settings_from(args)
    try:
        result = restore(settings.data_dir, args.archive, force=args.force)
    except RestoreRefused as exc:
        raise CliError(f"{exc} Nothing was changed.") from exc
    for slug, action in result.restored:
        print(f"Workspace {slug}: {action}.")
    for note in result.notes:
        print(note)
    print("Restore complete; start Blazz again.")


def doctor_command(args: argparse.Namespace) -> None:
    import json

    from blazz.diagnostics import diagnostics, render

    report = diagnostics(settings_from(args), quick=args.quick)
    print(json.dumps(report, indent=1) if args.json else render(report))
    if report["status"] == "problem":
        sys.exit(1)


def _serve_args(parser: argparse.ArgumentParser, top: bool = False, port_help: str = "") -> None:
    parser.add_argument("--host", default=None, help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=None,
                        help=f"port ({port_help or f'default {DEFAULT_PORT}; 0 picks a free one'})")
    _network_args(parser)
    parser.add_argument("--log-format", choices=["text", "json"], default=None if top else argparse.SUPPRESS,
                        help="log lines as text (default) or JSON lines")
    parser.add_argument("--log-file", type=Path, default=None if top else argparse.SUPPRESS,
                        help="log file, rotated (default <data dir>/logs/blazz.log; '-' for none)")
    if not top:
        _common(parser)
    else:
        parser.add_argument("--data-dir", type=Path, default=None, help=argparse.SUPPRESS)


def _network_args(parser: argparse.ArgumentParser) -> None:
    """LAN and HTTPS flags: who may reach this server and how its cookies travel."""
    parser.add_argument("--lan", action=argparse.BooleanOptionalAction, default=None,
                        help="listen on all interfaces so staff on your Wi-Fi can open it, or (--no-lan) only on this "
                             "computer; for this start, whatever the switch in Settings says (without either flag, "
                             "the switch decides)")
    parser.add_argument("--secure-cookies", action="store_true",
                        help="mark login cookies Secure: use when people reach Blazz only through HTTPS")
    parser.add_argument("--trust-proxy", metavar="ADDRESSES", default=None,
                        help="comma-separated addresses of your HTTPS reverse proxy, whose X-Forwarded-For and "
                             "X-Forwarded-Proto headers to believe (e.g. 127.0.0.1)")


def settings_from(args: argparse.Namespace) -> Settings:
    settings = Settings()
    if getattr(args, "data_dir", None):
        settings.data_dir = args.data_dir.expanduser()
    try:
        settings.ensure_data_dir()
    except DataDirError as exc:
        raise CliError(f"{exc}\nChoose another folder with --data-dir or BLAZZ_DATA_DIR.") from exc
    return settings


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    quiet = args.command in ("backup", "restore", "doctor")  # their output is the result; problems still show
    logs.configure(args.log_format or "text", logging.WARNING if quiet else logging.INFO)
    try:
        if args.command == "desktop" or (args.command is None and getattr(sys, "frozen", False)):
            run_server(args, mode="desktop")  # the packaged app opens its window when double-clicked
        elif args.command in (None, "serve"):
            run_server(args, mode="serve")
        elif args.command == "admin":
            asyncio.run(admin(args))
        elif args.command == "demo":
            from blazz.demo import run_demo
            from blazz.errors import DomainError

            settings = settings_from(args)
            try:
                slug = asyncio.run(run_demo(settings, args.contacts, args.messages, args.conversations, args.owner))
            except DomainError as exc:
                raise CliError(exc.message) from exc
            print(slug)
        elif args.command == "backup":
            backup_command(args)
        elif args.command == "restore":
            restore_command(args)
        elif args.command == "doctor":
            doctor_command(args)
    except CliError as exc:
        print(f"blazz: {exc}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)


# -- serve --------------------------------------------------------------------------------------------------------


def bind_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise CliError(f"Port {port} on {host} is already in use by another program. "
                           "Stop it, or run with another port, e.g. --port 0 to pick a free one.") from exc
        raise CliError(f"Cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def run_server(args: argparse.Namespace, mode: str) -> None:
    """`serve` and `desktop`: hold the data folder, bind, build the app, run until Ctrl-C or the window closes."""
    import uvicorn

    from blazz.web.app import create_app

    settings = settings_from(args)
    apply_network(args, settings)
    lock = _instance_lock(settings, mode)
    if lock is None:
        return  # a running instance was brought forward instead
    with lock:
        sock = _bind_for(settings, mode, args.port)
        settings.port = sock.getsockname()[1]
        shown = "127.0.0.1" if settings.host in ("0.0.0.0", "::") else settings.host
        url = f"http://{shown}:{settings.port}/"
        lock.publish(url)
        if str(args.log_file) != "-":
            logs.add_file(args.log_file or logs.log_path(settings.data_dir), args.log_format or "text")
        app = create_app(settings)
        print(f"Blazz {__version__} is running at {url}  (data: {settings.data_dir})", flush=True)
        print_network(settings)
        server = uvicorn.Server(uvicorn_config(app, args))
        if mode == "desktop" and _desktop(server, sock, url, lock, settings):
            print("Blazz stopped.", flush=True)
            return
        if hasattr(signal, "SIGHUP"):  # closing the terminal window stops Blazz the clean way, as Ctrl-C does
            signal.signal(signal.SIGHUP, lambda *_: setattr(server, "should_exit", True))
        # uvicorn re-raises Ctrl-C after its graceful shutdown; by then everything has stopped cleanly.
        with contextlib.suppress(KeyboardInterrupt):
            server.run(sockets=[sock])
    print("Blazz stopped.", flush=True)


def uvicorn_config(app, args: argparse.Namespace):
    import uvicorn

    proxies = [a.strip() for a in (args.trust_proxy or "").split(",") if a.strip()]
    return uvicorn.Config(app, lifespan="on", log_level="warning", timeout_graceful_shutdown=5,
                          proxy_headers=bool(proxies), forwarded_allow_ips=proxies or None, access_log=False)


def _desktop(server, sock: socket.socket, url: str, lock: InstanceLock, settings: Settings) -> bool:
    """Run the window (True once it closed), or say in one line why not and open the browser (False: serve on)."""
    from blazz import desktop

    reason = desktop.window_unavailable()
    if reason is None:
        try:
            desktop.run_window(server, sock, url, lock, settings.data_dir)
        except RuntimeError as exc:
            raise CliError(f"Blazz could not start: {exc}.") from exc
        return True
    if desktop.can_open_browser():
        print(f"{reason}; opening {url} in your browser instead.", flush=True)
        desktop.open_when_serving(server, url)
    else:
        print(f"{reason}; open {url} in a browser instead.", flush=True)
    return False


# -- one instance per data folder ---------------------------------------------------------------------------------


def _instance_lock(settings: Settings, mode: str) -> InstanceLock | None:
    """Hold the data folder's lock; None when another instance runs and a desktop launch brought it forward."""
    lock = InstanceLock(settings.data_dir)
    try:
        lock.acquire(mode)
    except LockError as exc:
        raise CliError(f"{exc}\nPut the data folder on a local disk you can write to, or choose another with "
                       "--data-dir.") from exc
    except AlreadyRunning as exc:
        holder = exc.holder
        if holder is None or not holder.url or not _answers(holder.url):
            raise CliError(_not_answering(holder, settings)) from exc
        if mode == "desktop":
            from blazz import desktop

            print(desktop.show_running(holder), flush=True)
            return None
        raise CliError(f"Blazz is already running for the data folder {settings.data_dir} at {holder.url} "
                       f"(pid {holder.pid}). Open that address, or stop it first; to run a second copy, give it its "
                       "own --data-dir.") from exc
    if lock.stale is not None:
        print(f"Blazz (pid {lock.stale.pid}) did not stop cleanly last time; its leftover lock was cleared and "
              "it starts normally.", flush=True)
    return lock


def _not_answering(holder: Holder | None, settings: Settings) -> str:
    if holder is None:
        return (f"Another Blazz command (a restore?) is using the data folder {settings.data_dir}. Wait for it to "
                "finish and start again, or use another --data-dir.")
    where = f" at {holder.url}" if holder.url else ""
    return (f"Another Blazz (pid {holder.pid}) holds the data folder {settings.data_dir} but does not answer{where}. "
            f"If it is stuck, stop it (kill {holder.pid}) and start again; or use another --data-dir.")


def _answers(url: str, timeout: float = 10) -> bool:
    """Whether a Blazz answers at `url` (a starting one queues the request until it serves)."""
    try:
        with urllib.request.urlopen(url + "health", timeout=timeout):
            return True
    except urllib.error.HTTPError:
        return True  # 503 while starting or stopping: it is there
    except OSError:
        return False


def _bind_for(settings: Settings, mode: str, port: int | None) -> socket.socket:
    """serve: the given port or 8000. desktop: a free port, or 8000 with --lan so staff links stay the same."""
    if port is not None or mode == "serve":
        return bind_socket(settings.host, DEFAULT_PORT if port is None else port)
    if not settings.lan:
        return bind_socket(settings.host, 0)
    try:
        return bind_socket(settings.host, DEFAULT_PORT)
    except CliError:
        print(f"Port {DEFAULT_PORT} is taken by another program; using a free port instead.", flush=True)
        return bind_socket(settings.host, 0)


# -- LAN and HTTPS ------------------------------------------------------------------------------------------------


def apply_network(args: argparse.Namespace, settings: Settings) -> None:
    """Where to listen: --host; else --lan/--no-lan for this start; else the Settings switch; else loopback only."""
    if args.host:
        settings.host = args.host
        settings.lan = bool(args.lan) or args.host in (lan.ALL_INTERFACES, "::")
    else:
        settings.lan = lan.chosen(args.lan, settings.data_dir)
        settings.host = lan.ALL_INTERFACES if settings.lan else lan.LOOPBACK
    settings.secure_cookies = bool(args.secure_cookies)


def print_network(settings: Settings) -> None:
    if settings.lan:
        urls = lan.lan_urls(settings.port)
        for url in urls:
            print(f"On your network: {url}  (staff need their own login)", flush=True)
        if not urls:
            print("No network address found: connect this computer to your Wi-Fi, then restart Blazz.", flush=True)
    if settings.secure_cookies:
        print("Login cookies are HTTPS-only (--secure-cookies): sign in through your https:// address; "
              "over plain http:// the login will not stick.", flush=True)


# -- admin --------------------------------------------------------------------------------------------------------


def _password(given: str | None, prompt: str = "Password: ") -> str:
    if given:
        return given
    if not sys.stdin.isatty():
        line = sys.stdin.readline().rstrip("\n")
        if not line:
            raise CliError("no password given (use --password or type it on standard input)")
        return line
    first = getpass.getpass(prompt)
    if getpass.getpass("Again: ") != first:
        raise CliError("the two passwords are not the same")
    return first


async def admin(args: argparse.Namespace) -> None:
    from blazz import api_tokens, auth, workspaces
    from blazz.errors import DomainError
    from blazz.store import users as users_store
    from blazz.store import workspaces as ws_store
    from blazz.store.registry import Databases

    settings = settings_from(args)
    dbs = Databases(settings.data_dir)
    await dbs.open()
    try:
        if args.admin_command == "create-user":
            user = await auth.create_user(dbs.app, args.email, _password(args.password), args.name)
            print(f"Created user {user.email} (id {user.id}).")
        elif args.admin_command == "create-workspace":
            owner = await users_store.by_email(dbs.app, args.owner.strip().lower())
            if owner is None:
                raise CliError(f"No user with the email {args.owner}; create it first with `blazz admin create-user`.")
            ws = await workspaces.create_workspace(dbs.app, args.name, owner.id, args.slug)
            await dbs.workspace(ws.id)
            print(ws.slug)
        elif args.admin_command == "create-token":
            ws = await ws_store.by_slug(dbs.app, args.workspace)
            if ws is None:
                raise CliError(f"No workspace with the slug {args.workspace}.")
            token, _ = await api_tokens.create(dbs.app, ws.id, args.name, args.role)
            print(token)
        elif args.admin_command == "reset-password":
            user = await users_store.by_email(dbs.app, args.email.strip().lower())
            if user is None:
                raise CliError(f"No user with the email {args.email}.")
            await auth.reset_password(dbs.app, user.email, _password(args.password, "New password: "))
            print(f"Password changed for {user.email}.")
    except DomainError as exc:
        raise CliError(exc.message) from exc
    finally:
        await dbs.close()


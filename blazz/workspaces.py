"""Workspaces: creating and renaming them, members and their roles, invitation links."""

from __future__ import annotations

import hashlib
import re
import secrets
import sqlite3
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from blazz import auth
from blazz.bus import Bus
from blazz.errors import Conflict, Forbidden, Invalid, NotFound
from blazz.i18n import N_
from blazz.store import invitations as invitations_store
from blazz.store import users as users_store
from blazz.store import workspaces as ws_store
from blazz.store.database import Database
from blazz.store.invitations import Invitation
from blazz.store.users import User
from blazz.store.workspaces import Member, WorkspaceRow
from blazz.whatsapp.session_manager import SessionManager

ROLE_RANK = {"agent": 1, "admin": 2, "owner": 3}
# How pages name each role (translated when shown; the codes stay English in the API and the database).
ROLE_LABELS = {"owner": N_("owner"), "admin": N_("admin"), "agent": N_("agent")}
INVITE_TTL_S = 7 * 24 * 3600  # a week: long enough to reach a colleague, short enough to not linger
_SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?$")


@dataclass(frozen=True, slots=True)
class Workspace:
    """One workspace as services see it: its identity, its own database and folder, and the process-wide bus and
    WhatsApp session manager (services reach WhatsApp only through it)."""

    id: int
    slug: str
    name: str
    db: Database
    folder: Path
    bus: Bus | None = None
    sessions: SessionManager | None = None


def has_role(role: str, at_least: str) -> bool:
    return ROLE_RANK.get(role, 0) >= ROLE_RANK[at_least]


def clean_name(name: str) -> str:
    name = " ".join((name or "").split())
    if not name:
        raise Invalid("name", "Give the workspace a name.")
    if len(name) > 80:
        raise Invalid("name", "Use at most 80 characters for the name.")
    return name


def slugify(name: str) -> str:
    text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    text = re.sub(r"[^a-z0-9]+", "-", text).strip("-")[:40].strip("-")
    return text or "workspace"


def check_slug(slug: str) -> str:
    slug = (slug or "").strip().lower()
    if not _SLUG.match(slug):
        raise Invalid("slug", "Use 1-40 lowercase letters, digits and dashes (not at the start or end).")
    return slug


async def unique_slug(app_db: Database, name: str) -> str:
    base = slugify(name)
    slug, n = base, 2
    while await ws_store.slug_taken(app_db, slug):
        slug = f"{base}-{n}"
        n += 1
    return slug


async def create_workspace(app_db: Database, name: str, owner_id: int, slug: str | None = None) -> WorkspaceRow:
    name = clean_name(name)
    if slug:
        slug = check_slug(slug)
        if await ws_store.slug_taken(app_db, slug):
            raise Conflict("The address %(address)s is taken; choose another.", details={"slug": "taken"},
                           address=slug)
    else:
        slug = await unique_slug(app_db, name)

    def write(conn: sqlite3.Connection) -> int:
        try:
            return ws_store.insert(conn, slug, name, owner_id)
        except sqlite3.IntegrityError as exc:
            raise Conflict("The address %(address)s is taken; choose another.", details={"slug": "taken"},
                           address=slug) from exc

    workspace_id = await app_db.execute_write_fn(write)
    return await ws_store.by_id(app_db, workspace_id)


async def create_owner_and_workspace(
    app_db: Database, email: str, password: str, name: str, workspace_name: str
) -> tuple[User, WorkspaceRow]:
    """First-run setup: the owner and the first workspace, together or not at all."""
    email, name, pw_hash = auth.prepare_user(email, password, name)
    workspace_name = clean_name(workspace_name)
    slug = await unique_slug(app_db, workspace_name)

    def write(conn: sqlite3.Connection) -> tuple[int, int]:
        if conn.execute("SELECT count(*) FROM users").fetchone()[0]:
            raise Conflict("Blazz is already set up; log in instead.")
        user_id = auth.insert_user(conn, email, name, pw_hash)
        return user_id, ws_store.insert(conn, slug, workspace_name, user_id)

    user_id, workspace_id = await app_db.execute_write_fn(write)
    return await users_store.by_id(app_db, user_id), await ws_store.by_id(app_db, workspace_id)


async def rename(app_db: Database, workspace: WorkspaceRow, name: str) -> str:
    name = clean_name(name)
    await ws_store.rename(app_db, workspace.id, name)
    return name


# -- members ------------------------------------------------------------------------------------------------------


def _check_role(role: str, allowed: tuple[str, ...]) -> str:
    if role not in allowed:
        raise Invalid("role", "Choose one of: %(choices)s.", choices=", ".join(allowed))
    return role


async def change_role(app_db: Database, workspace_id: int, actor_role: str, user_id: int, role: str) -> None:
    _check_role(role, ("owner", "admin", "agent"))
    if role == "owner" and actor_role != "owner":
        raise Forbidden("Only an owner can make someone an owner.")

    def write(conn: sqlite3.Connection) -> None:
        current = ws_store.role_of(conn, workspace_id, user_id)
        if current is None:
            raise NotFound("That person is not a member of this workspace.")
        if current == "owner" and actor_role != "owner":
            raise Forbidden("Only an owner can change another owner's role.")
        if current == "owner" and role != "owner" and ws_store.count_owners(conn, workspace_id) == 1:
            raise Conflict("A workspace needs at least one owner; make someone else owner first.")
        ws_store.set_role(conn, workspace_id, user_id, role)

    await app_db.execute_write_fn(write)


async def remove_member(app_db: Database, workspace_id: int, actor_role: str, user_id: int) -> None:
    def write(conn: sqlite3.Connection) -> None:
        current = ws_store.role_of(conn, workspace_id, user_id)
        if current is None:
            raise NotFound("That person is not a member of this workspace.")
        if current == "owner" and actor_role != "owner":
            raise Forbidden("Only an owner can remove an owner.")
        if current == "owner" and ws_store.count_owners(conn, workspace_id) == 1:
            raise Conflict("A workspace needs at least one owner; make someone else owner first.")
        ws_store.remove_member(conn, workspace_id, user_id)

    await app_db.execute_write_fn(write)


async def members(app_db: Database, workspace_id: int) -> list[Member]:
    return await ws_store.members(app_db, workspace_id)


# -- invitations --------------------------------------------------------------------------------------------------


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def invite(app_db: Database, workspace_id: int, inviter_id: int, role: str, email: str | None) -> str:
    """Create an invitation link token (shown once; only its hash is stored)."""
    _check_role(role, ("admin", "agent"))
    email = auth.normalise_email(email) if email and email.strip() else None
    token = secrets.token_urlsafe(24)
    await invitations_store.create(app_db, workspace_id, hash_token(token), role, email, inviter_id, INVITE_TTL_S)
    return token


async def find_invitation(app_db: Database, token: str) -> tuple[Invitation, WorkspaceRow]:
    inv = await invitations_store.by_token_hash(app_db, hash_token(token or ""))
    if inv is None:
        raise NotFound("This invitation link is not valid. Ask for a new one.")
    if inv.revoked_at:
        raise Invalid("token", "This invitation was withdrawn. Ask for a new one.")
    if inv.accepted_at:
        raise Invalid("token", "This invitation was already used. Log in, or ask for a new one.")
    if not inv.usable:
        raise Invalid("token", "This invitation has expired. Ask for a new one.")
    return inv, await ws_store.by_id(app_db, inv.workspace_id)


async def accept_invitation(app_db: Database, token: str, user: User) -> WorkspaceRow:
    inv, workspace = await find_invitation(app_db, token)

    def write(conn: sqlite3.Connection) -> None:
        if not invitations_store.mark_accepted(conn, inv.id, user.id):
            raise Invalid("token", "This invitation was already used. Ask for a new one.")
        ws_store.add_member(conn, inv.workspace_id, user.id, inv.role)

    await app_db.execute_write_fn(write)
    return workspace


async def accept_invitation_as_new_user(
    app_db: Database, token: str, email: str, password: str, name: str
) -> tuple[User, WorkspaceRow]:
    inv, workspace = await find_invitation(app_db, token)
    email, name, pw_hash = auth.prepare_user(email, password, name)

    def write(conn: sqlite3.Connection) -> int:
        user_id = auth.insert_user(conn, email, name, pw_hash)
        if not invitations_store.mark_accepted(conn, inv.id, user_id):
            raise Invalid("token", "This invitation was already used. Ask for a new one.")
        ws_store.add_member(conn, inv.workspace_id, user_id, inv.role)
        return user_id

    user_id = await app_db.execute_write_fn(write)
    return await users_store.by_id(app_db, user_id), workspace

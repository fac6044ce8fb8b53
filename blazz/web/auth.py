"""Logging in and out, first-run setup, the second factor, and joining a workspace by invitation link."""

from __future__ import annotations

import time
from typing import Any

from litestar import Controller, Request, get, post
from litestar.connection import ASGIConnection
from litestar.middleware.rate_limit import RateLimitConfig
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template

from blazz import auth, workspaces
from blazz.errors import DomainError, Invalid, NotFound
from blazz.i18n import gettext as _
from blazz.store import login_audit
from blazz.store import users as users_store
from blazz.store import workspaces as ws_store
from blazz.store.users import User
from blazz.web.context import page, runtime_of
from blazz.web.sessions import rotate_session_id

PENDING_2FA_TTL_S = 300


async def retrieve_user(session: dict[str, Any], connection: ASGIConnection) -> User | None:
    user_id = session.get("uid")
    if not user_id:
        return None
    return await users_store.by_id(runtime_of(connection).app_db, user_id)


def client_address(request: Request) -> str | None:
    return request.client.host if request.client else None


def safe_next(target: str | None) -> str:
    """Only same-site paths, so a crafted login link cannot bounce people to another site."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


async def home_for(request: Request, user: User) -> str:
    memberships = await ws_store.memberships_of(runtime_of(request).app_db, user.id)
    if not memberships:
        return "/workspaces/new"
    last = request.session.get("last_ws") if request.session else None
    slugs = [m.workspace.slug for m in memberships]
    return f"/w/{last if last in slugs else slugs[0]}/inbox"


def start_session(request: Request, user: User) -> None:
    # A fresh session on login so an id planted before login is worth nothing afterwards.
    rotate_session_id(request)
    request.set_session({"uid": user.id, "at": int(time.time())})


def login_rate_limit(per_minute: int) -> RateLimitConfig:
    """Throttle only login attempts (password and second factor), per client address."""

    def is_login_attempt(request: Request) -> bool:
        return bool(request.route_handler.opt.get("login_attempt"))

    return RateLimitConfig(rate_limit=("minute", per_minute), check_throttle_handler=is_login_attempt)


class AuthController(Controller):
    include_in_schema = False

    @get("/", exclude_from_auth=True)
    async def root(self, request: Request) -> Redirect:
        rt = runtime_of(request)
        if not await users_store.count(rt.app_db):
            return Redirect("/setup")
        user = await retrieve_user(request.session or {}, request)
        if user is None:
            return Redirect("/login")
        return Redirect(await home_for(request, user))

    @get("/setup", exclude_from_auth=True)
    async def setup_form(self, request: Request) -> Template | Redirect:
        if await users_store.count(runtime_of(request).app_db):
            return Redirect("/login")
        return page(request, "auth/setup.html", form={}, errors={})

    @post("/setup", exclude_from_auth=True)
    async def setup(self, request: Request) -> Template | Redirect:
        rt = runtime_of(request)
        form = dict(await request.form())
        try:
            user, ws = await workspaces.create_owner_and_workspace(
                rt.app_db,
                form.get("email", ""),
                form.get("password", ""),
                form.get("name", ""),
                form.get("workspace", ""),
            )
        except DomainError as exc:
            if await users_store.count(rt.app_db):
                return Redirect("/login")
            return page(request, "auth/setup.html", 422, form=_keep(form), errors=_errors(exc))
        await auth.finish_login(rt.app_db, user, client_address(request))
        start_session(request, user)
        return Redirect(f"/w/{ws.slug}/inbox")

    @get("/login", exclude_from_auth=True)
    async def login_form(self, request: Request, next: FromQuery[str | None] = None) -> Template | Redirect:
        if not await users_store.count(runtime_of(request).app_db):
            return Redirect("/setup")
        return page(request, "auth/login.html", form={"next": safe_next(next)}, errors={})

    @post("/login", exclude_from_auth=True, opt={"login_attempt": True})
    async def login(self, request: Request) -> Template | Redirect:
        rt = runtime_of(request)
        form = dict(await request.form())
        keep = {"email": form.get("email", ""), "next": safe_next(form.get("next"))}
        try:
            user = await auth.authenticate(rt.app_db, form.get("email", ""), form.get("password", ""),
                                           client_address(request))
        except auth.LoginFailed as exc:  # its message is English, marked with N_()
            return page(request, "auth/login.html", 401, form=keep, errors={"form": _(str(exc))})
        if user.totp_secret:
            rotate_session_id(request)
            request.set_session({"pending_uid": user.id, "pending_at": int(time.time()), "next": keep["next"]})
            return Redirect("/login/2fa")
        await auth.finish_login(rt.app_db, user, client_address(request))
        start_session(request, user)
        target = keep["next"]
        return Redirect(target if target != "/" else await home_for(request, user))

    @get("/login/2fa", exclude_from_auth=True)
    async def second_factor_form(self, request: Request) -> Template | Redirect:
        if not request.session.get("pending_uid"):
            return Redirect("/login")
        return page(request, "auth/second_factor.html", errors={})

    @post("/login/2fa", exclude_from_auth=True, opt={"login_attempt": True})
    async def second_factor(self, request: Request) -> Template | Redirect:
        rt = runtime_of(request)
        session = request.session or {}
        user_id, started = session.get("pending_uid"), session.get("pending_at", 0)
        if not user_id or time.time() - started > PENDING_2FA_TTL_S:
            request.clear_session()
            return Redirect("/login")
        user = await users_store.by_id(rt.app_db, user_id)
        form = await request.form()
        if user is None or not auth.check_totp(user.totp_secret, form.get("code", "")):
            if user:
                await login_audit.record(rt.app_db, user.email, user.id, client_address(request), False,
                                         "wrong 2FA code")
            return page(request, "auth/second_factor.html", 401,
                        errors={"code": _("That code is not right. Use the newest code from your app.")})
        target = safe_next(session.get("next"))
        await auth.finish_login(rt.app_db, user, client_address(request))
        start_session(request, user)
        return Redirect(target if target != "/" else await home_for(request, user))

    @post("/logout")
    async def logout(self, request: Request) -> Redirect:
        request.clear_session()
        return Redirect("/login")

    # -- invitations ------------------------------------------------------------------------------------------------

    @get("/invite/{token:str}", exclude_from_auth=True)
    async def invite_page(self, request: Request, token: FromPath[str]) -> Template:
        rt = runtime_of(request)
        user = await retrieve_user(request.session or {}, request)
        try:
            inv, ws = await workspaces.find_invitation(rt.app_db, token)
        except (Invalid, NotFound) as exc:
            return page(request, "auth/invite_invalid.html", 410 if isinstance(exc, Invalid) else 404,
                        message=exc.message)
        return page(request, "auth/invite.html", invitation=inv, ws=ws, token=token, user=user,
                    form={"email": inv.email or ""}, errors={})

    @post("/invite/{token:str}", exclude_from_auth=True)
    async def accept_invite(self, request: Request, token: FromPath[str]) -> Template | Redirect:
        rt = runtime_of(request)
        user = await retrieve_user(request.session or {}, request)
        form = dict(await request.form())
        try:
            if user is not None:
                ws = await workspaces.accept_invitation(rt.app_db, token, user)
            else:
                user, ws = await workspaces.accept_invitation_as_new_user(
                    rt.app_db, token, form.get("email", ""), form.get("password", ""), form.get("name", "")
                )
                await auth.finish_login(rt.app_db, user, client_address(request))
                start_session(request, user)
        except DomainError as exc:
            try:
                inv, ws_row = await workspaces.find_invitation(rt.app_db, token)
            except DomainError as gone:
                return page(request, "auth/invite_invalid.html", 410, message=gone.message)
            return page(request, "auth/invite.html", 422, invitation=inv, ws=ws_row, token=token, user=user,
                        form=_keep(form), errors=_errors(exc))
        return Redirect(f"/w/{ws.slug}/inbox")


def _keep(form: dict) -> dict:
    """Echo a form back without its secrets."""
    return {k: v for k, v in form.items() if "password" not in k and k != "_csrf_token"}


def _errors(exc: DomainError) -> dict[str, str]:
    if isinstance(exc, Invalid):
        return {exc.field: exc.message}
    if exc.details:
        return {next(iter(exc.details)): exc.message}
    return {"form": exc.message}

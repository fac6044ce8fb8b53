"""The logged-in person's own settings: name, language, password and the optional second factor (TOTP)."""

from __future__ import annotations

import io

import segno
from litestar import Controller, Request, get, post
from litestar.response import Redirect, Template

from blazz import auth, i18n
from blazz.errors import Invalid
from blazz.i18n import gettext as _
from blazz.store import users as users_store
from blazz.web.context import fragment, page, runtime_of


def qr_svg(text: str) -> str:
    buf = io.BytesIO()
    segno.make_qr(text).save(buf, kind="svg", scale=5, border=2, xmldecl=False, svgns=True, dark="#111")
    return buf.getvalue().decode()


def browser_locale(request: Request) -> str:
    """The language the browser asks for (what "Browser default" means for this person right now)."""
    return i18n.negotiate(request.headers.get("accept-language"))


class AccountController(Controller):
    path = "/account"
    include_in_schema = False

    async def _fresh_user(self, request: Request):
        return await users_store.by_id(runtime_of(request).app_db, request.user.id)

    @get("/")
    async def show(self, request: Request) -> Template:
        user = await self._fresh_user(request)
        return page(request, "account/index.html", user=user, errors={}, notice=None, totp=None,
                    browser_locale=browser_locale(request))

    @post("/language")
    async def language(self, request: Request) -> Template | Redirect:
        form = await request.form()
        user = await self._fresh_user(request)
        try:
            await auth.set_language(runtime_of(request).app_db, user, form.get("locale"))
        except Invalid as exc:
            return page(request, "account/index.html", 422, user=user, errors={exc.field: exc.message}, notice=None,
                        totp=None, browser_locale=browser_locale(request))
        # A full reload rather than a fragment: the whole page (menu, titles, scripts' strings) changes language.
        return Redirect("/account", status_code=303)

    @post("/profile")
    async def profile(self, request: Request) -> Template:
        form = await request.form()
        name = " ".join(form.get("name", "").split())[:120]
        await users_store.update_profile(runtime_of(request).app_db, request.user.id, name, request.user.locale)
        user = await self._fresh_user(request)
        return fragment("account/_profile.html", user=user, errors={}, notice=_("Saved."))

    @post("/password")
    async def password(self, request: Request) -> Template:
        form = await request.form()
        user = await self._fresh_user(request)
        try:
            if form.get("new_password", "") != form.get("confirm_password", ""):
                raise Invalid("confirm_password", "The two new passwords are not the same.")
            await auth.change_password(runtime_of(request).app_db, user, form.get("current_password", ""),
                                       form.get("new_password", ""))
        except Invalid as exc:
            field = "new_password" if exc.field == "password" else exc.field
            return fragment("account/_password.html", 422, errors={field: exc.message}, notice=None)
        return fragment("account/_password.html", errors={}, notice=_("Password changed."))

    @post("/2fa/start")
    async def totp_start(self, request: Request) -> Template:
        user = await self._fresh_user(request)
        secret = auth.new_totp_secret()
        request.session["totp_setup"] = secret
        totp = {"secret": secret, "qr": qr_svg(auth.totp_uri(secret, user.email))}
        return fragment("account/_totp.html", user=user, totp=totp, errors={}, notice=None)

    @post("/2fa/enable")
    async def totp_enable(self, request: Request) -> Template:
        user = await self._fresh_user(request)
        secret = request.session.get("totp_setup")
        form = await request.form()
        if not secret:
            return fragment("account/_totp.html", 422, user=user, totp=None,
                            errors={"code": _("Start again: the setup expired.")}, notice=None)
        try:
            await auth.enable_totp(runtime_of(request).app_db, user, secret, form.get("code", ""))
        except Invalid as exc:
            totp = {"secret": secret, "qr": qr_svg(auth.totp_uri(secret, user.email))}
            return fragment("account/_totp.html", 422, user=user, totp=totp, errors={exc.field: exc.message},
                            notice=None)
        request.session.pop("totp_setup", None)
        user = await self._fresh_user(request)
        return fragment("account/_totp.html", user=user, totp=None, errors={},
                        notice=_("Two-step login is on. You'll need a code from your app when you log in."))

    @post("/2fa/disable")
    async def totp_disable(self, request: Request) -> Template:
        user = await self._fresh_user(request)
        form = await request.form()
        try:
            await auth.disable_totp(runtime_of(request).app_db, user, form.get("password", ""))
        except Invalid as exc:
            return fragment("account/_totp.html", 422, user=user, totp=None, errors={exc.field: exc.message},
                            notice=None)
        user = await self._fresh_user(request)
        return fragment("account/_totp.html", user=user, totp=None, errors={}, notice=_("Two-step login is off."))

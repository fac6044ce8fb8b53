"""Settings → General: the workspace's name, timezone, phone region and opt-out words, with LAN access and backups.

`SettingsController` in `workspace_pages` routes the page here; every field is checked before anything is stored,
so a bad timezone (or any other bad field) leaves the workspace exactly as it was. The LAN switch is the owner's: it
decides whether phones and other computers on the Wi-Fi can open Blazz from its next start (see blazz/lan.py).
"""

from __future__ import annotations

import asyncio
import zoneinfo
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from litestar import Request
from litestar.response import Template

from blazz import audit, backup, lan, phones, workspace_settings, workspaces
from blazz.errors import Invalid
from blazz.i18n import gettext as _
from blazz.store.workspaces import Membership
from blazz.web.context import fragment, page, runtime_of
from blazz.workspaces import Workspace, has_role

FIELDS = ("timezone", "default_region", "opt_out_words", "media_retention_days")


@cache
def timezone_names() -> tuple[str, ...]:
    return tuple(sorted(zoneinfo.available_timezones() | {"UTC"}))


def _form_of(name: str, settings: workspace_settings.WorkspaceSettings) -> dict[str, str]:
    days = settings.media_retention_days
    return {"name": name, "timezone": settings.timezone, "default_region": settings.default_region or "",
            "opt_out_words": ", ".join(settings.opt_out_words),
            "media_retention_days": "" if days is None else str(days)}


def _side_panels(request: Request) -> dict[str, Any]:
    """LAN addresses with QR codes and the newest backup: both read the machine, not the workspace."""
    settings = runtime_of(request).settings
    newest = backup.last_backup(settings.data_dir)
    return {"lan": lan.status(settings), "last_backup_at": newest.stat().st_mtime if newest else None,
            "backup_error": _backup_error(backup.read_status(settings.data_dir))}


def _backup_error(status: dict[str, Any]) -> str | None:
    """The last daily backup's failure in the reader's language when Blazz wrote it (a catalog id with its values),
    else as the system said it."""
    if not status.get("last_error"):
        return None
    if status.get("last_error_id"):
        return _(status["last_error_id"], **(status.get("last_error_params") or {}))
    return status["last_error"]


def _choices() -> dict[str, Any]:
    return {"timezones": timezone_names(), "regions": phones.regions()}


async def show(request: Request, ws: Workspace) -> Template:
    current = await workspace_settings.load(ws.db)
    side = await asyncio.to_thread(_side_panels, request)
    return page(request, "settings/general.html", ws=ws, form=_form_of(ws.name, current), errors={}, saved=False,
                can_switch_lan=_is_owner(request), lan_saved=False, lan_error=None, tz=ZoneInfo(current.timezone),
                **side, **_choices())


def _is_owner(request: Request) -> bool:
    membership = request.state.get("membership")
    return membership is not None and has_role(membership.role, "owner")


LAN_VALUES = {"on": True, "true": True, "1": True, "off": False, "false": False, "0": False, "": False}


async def save_lan(request: Request, ws: Workspace) -> Template:
    """The owner's LAN switch: saved for the next start (a checkbox sends "on", or nothing when cleared)."""
    settings = runtime_of(request).settings
    value = str((await request.form()).get("lan", "")).strip().lower()
    if value not in LAN_VALUES:
        status = await asyncio.to_thread(lan.status, settings)
        return fragment("settings/_lan.html", 422, ws=ws, lan=status, can_switch_lan=True, lan_saved=False,
                        lan_error=_("Choose on or off."))
    before = lan.remembered(settings.data_dir)
    await asyncio.to_thread(lan.remember, settings.data_dir, LAN_VALUES[value])
    if before != LAN_VALUES[value]:
        await audit.record(ws, audit.Actor(request.user.id, request.user.email), "workspace.settings_changed",
                           ws.slug, fields=["lan"], lan={"old": before, "new": LAN_VALUES[value]})
    status = await asyncio.to_thread(lan.status, settings)
    return fragment("settings/_lan.html", ws=ws, lan=status, can_switch_lan=True, lan_saved=True, lan_error=None)


def _check_all(form: dict[str, str], current_name: str) -> tuple[str, dict[str, Any], dict[str, str]]:
    """Every field sent checked up front: the clean name, the clean settings and the errors by field.
    A field the form leaves out keeps its value."""
    errors: dict[str, str] = {}
    name = current_name
    try:
        if "name" in form:
            name = workspaces.clean_name(form["name"])
    except Invalid as exc:
        errors["name"] = exc.message
    checks = {"timezone": workspace_settings.check_timezone, "default_region": workspace_settings.check_region,
              "opt_out_words": workspace_settings.check_opt_out_words,
              "media_retention_days": workspace_settings.check_media_retention}
    clean: dict[str, Any] = {}
    for key, check in checks.items():
        if key not in form:
            continue
        try:
            clean[key] = check(form.get(key, ""))
        except Invalid as exc:
            errors[exc.field if exc.field in checks else key] = exc.message
    if "media_retention_days" in clean and form.get("confirm_delete_all") != "on":
        try:
            workspace_settings.check_zero_retention(clean["media_retention_days"])
        except Invalid as exc:
            errors["media_retention_days"] = exc.message
            errors["confirm_delete_all"] = exc.message
    return name, clean, errors


async def save(request: Request, ws: Workspace, me: Membership) -> Template:
    form = {k: str(v) for k, v in (await request.form()).items()}
    name, clean, errors = _check_all(form, ws.name)
    if errors:
        form = {**_form_of(ws.name, await workspace_settings.load(ws.db)), **form}
        return fragment("settings/_general_form.html", 422, ws=ws, form=form, errors=errors, saved=False,
                        **_choices())
    actor = audit.Actor(request.user.id, request.user.email)
    before = (await workspace_settings.load(ws.db)).as_dict()
    after_settings = (await workspace_settings.update(ws.db, confirm_delete_all=True, **clean) if clean  # checked above
                      else await workspace_settings.load(ws.db))
    after = after_settings.as_dict()
    changed = sorted(k for k in FIELDS if before[k] != after[k])
    if changed:
        await audit.record(ws, actor, "workspace.settings_changed", ws.slug, fields=changed,
                           **{k: {"old": before[k], "new": after[k]} for k in changed if k != "opt_out_words"})
    if name != ws.name:
        name = await workspaces.rename(runtime_of(request).app_db, me.workspace, name)
        await audit.record(ws, actor, "workspace.renamed", ws.slug, old=ws.name, new=name)
    return fragment("settings/_general_form.html", ws=ws, form=_form_of(name, after_settings), errors={},
                    saved=True, **_choices())

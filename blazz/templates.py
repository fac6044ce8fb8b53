"""Message templates: reusable texts with variables, used by the inbox composer, auto-replies and campaigns.

A variable is `{{first_name}}`, `{{name}}`, `{{phone}}`, `{{email}}`, `{{last_name}}` or any custom field's key
(`{{city}}`), with an optional fallback for contacts without a value: `{{first_name|Kak}}`. A template has a body,
up to two alternative bodies (the variants rotate per recipient, so a campaign is not one identical blast), an
optional footer and an optional media header (the text then goes as the file's caption).

An unknown variable (a typo, or a custom field that does not exist) is kept visibly in previews and named by
`check_known`, which campaigns call before launching. Meta's own templates for Cloud API numbers live in
`blazz.cloud_templates`.
"""

from __future__ import annotations

import re
import sqlite3
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from blazz import contacts, media
from blazz.errors import Conflict, Invalid, NotFound
from blazz.i18n import N_, gettext
from blazz.outbox import MAX_TEXT
from blazz.store import contacts as contacts_store
from blazz.store import custom_fields as fields_store
from blazz.store import media as media_store
from blazz.store import templates as store
from blazz.store.contacts import Contact
from blazz.store.templates import Template
from blazz.workspaces import Workspace

BUILTINS = {"first_name": N_("First name"), "name": N_("Full name"), "last_name": N_("Last name"),
            "phone": N_("Phone"), "email": N_("Email")}  # labels in English; known_variables() translates them
MAX_VARIANTS = 3  # the body and two alternatives (issue #7: "up to 3 text alternatives")
MAX_NAME = 80
MAX_FOOTER = 60  # Meta's limit for a template footer; a longer one reads as a second body anyway
MAX_FALLBACK = 100
_PLACEHOLDER = re.compile(r"\{\{(.*?)\}\}", re.S)
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_TIGHT = " ,.!?;:)"  # after an empty value, a space before these (or the end) would be left dangling


@dataclass(frozen=True, slots=True)
class Placeholder:
    name: str  # lower-cased; the raw inside of the braces when it is not a valid name
    fallback: str | None
    valid: bool
    start: int
    end: int


def placeholders(text: str) -> list[Placeholder]:
    """Every `{{...}}` in the text, in order."""
    found = []
    for m in _PLACEHOLDER.finditer(text or ""):
        inside = m.group(1)
        name, bar, fallback = inside.partition("|")
        name = name.strip()
        valid = bool(_NAME.match(name))
        found.append(Placeholder(name.lower() if valid else inside.strip(), fallback.strip() if bar else None, valid,
                                 m.start(), m.end()))
    return found


def variables_in(texts: Iterable[str]) -> list[str]:
    """The variable names used, in order of first use."""
    seen: dict[str, None] = {}
    for text in texts:
        for p in placeholders(text):
            seen.setdefault(p.name, None)
    return list(seen)


def unknown_in(texts: Iterable[str], known: Iterable[str]) -> list[str]:
    known_set = set(known)
    found: dict[str, None] = {}
    for text in texts:
        for p in placeholders(text):
            if not p.valid or p.name not in known_set:
                found.setdefault(p.name, None)
    return list(found)


@dataclass(frozen=True, slots=True)
class Part:
    """A piece of rendered text, for previews: plain `text`, a `value`, a `fallback` used, an `empty` value, or an
    `unknown` variable kept as written."""

    kind: str
    text: str
    name: str | None = None


def render_parts(text: str, values: Mapping[str, str]) -> list[Part]:
    """The text with each variable replaced by the contact's value (or its fallback), piece by piece."""
    parts: list[Part] = []
    at = 0
    source = text or ""
    for p in placeholders(source):
        if p.start > at:
            parts.append(Part("text", source[at:p.start]))
        at = p.end
        if not p.valid or p.name not in values:
            parts.append(Part("unknown", source[p.start:p.end], p.name))
            continue
        value = str(values[p.name] or "").strip()
        if value:
            parts.append(Part("value", value, p.name))
        elif p.fallback:
            parts.append(Part("fallback", p.fallback, p.name))
        else:
            parts.append(Part("empty", "", p.name))
            following = source[at:at + 1]
            if parts[-2:-1] and parts[-2].kind == "text" and parts[-2].text.endswith(" ") and (
                    following == "" or following in _TIGHT):
                parts[-2] = Part("text", parts[-2].text[:-1])  # "Halo {{first_name}}," → "Halo," not "Halo ,"
    if at < len(source):
        parts.append(Part("text", source[at:]))
    return parts


def render(text: str | Template, values: Mapping[str, str]) -> str:
    """The text with its variables filled in; a whole template renders as its body followed by its footer."""
    if isinstance(text, Template):
        return compose(text.body, text.footer, values)
    return "".join(p.text for p in render_parts(text, values))


def compose(body: str, footer: str, values: Mapping[str, str]) -> str:
    """The message as it goes out: the rendered body, then the footer on its own paragraph."""
    text = render(body, values).strip()
    tail = render(footer, values).strip() if footer else ""
    return f"{text}\n\n{tail}" if tail else text


def values_of(contact: Contact, specs: Sequence[fields_store.CustomField]) -> dict[str, str]:
    """What each variable means for this contact (custom fields included)."""
    return contacts.template_variables(contact, specs)


async def known_variables(ws: Workspace) -> dict[str, str]:
    """Variable name → label (built-ins in the reader's language), built-ins first, then the custom fields."""
    return {key: gettext(label) for key, label in BUILTINS.items()} | {
        f.key: f.label for f in await fields_store.list_all(ws.db)}


async def check_known(ws: Workspace, texts: Iterable[str], field: str = "body") -> None:
    """Raise `Invalid` naming the first variable that no contact can have (a typo or a missing custom field)."""
    unknown = unknown_in(texts, await known_variables(ws))
    if unknown:
        names = ", ".join("{{" + name + "}}" for name in unknown)
        raise Invalid(field, "Unknown variable %(names)s: use one of the contact's details or custom fields, "
                             "or create that custom field first.", names=names)


# -- our templates ------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TemplateInput:
    name: str
    body: str
    variants: tuple[str, ...] = ()
    footer: str = ""
    media_id: int | None = None


def _clean_text(value: object, field: str, limit: int, *, too_long: str, empty: str | None = None) -> str:
    """The text trimmed; `empty` (when given) and `too_long` are the whole sentences saying what is wrong, so each
    reads naturally in every language."""
    text = "" if value is None else str(value)
    text = text.replace("\r\n", "\n").replace("\r", "\n").strip()
    if empty and not text:
        raise Invalid(field, empty)
    if len(text) > limit:
        raise Invalid(field, too_long, max=limit, count=len(text))
    for p in placeholders(text):
        if p.fallback is not None and len(p.fallback) > MAX_FALLBACK:
            raise Invalid(field, "A fallback can be at most %(max)s characters.", max=MAX_FALLBACK)
    return text


async def clean(ws: Workspace, data: TemplateInput) -> TemplateInput:
    """Check a template's fields; unknown variables are allowed here (previews show them, launches refuse)."""
    name = " ".join(str(data.name or "").split())
    if not name:
        raise Invalid("name", "Give the template a name your team will recognise, e.g. 'Promo Ramadan'.")
    if len(name) > MAX_NAME:
        raise Invalid("name", "Use at most %(max)s characters for the name.", max=MAX_NAME)
    footer = _clean_text(data.footer, "footer", MAX_FOOTER,
                         too_long=N_("The footer can be at most %(max)s characters; this one has %(count)s."))
    room = MAX_TEXT - (len(footer) + 2 if footer else 0)
    body = _clean_text(data.body, "body", room, empty=N_("Write the message first."),
                       too_long=N_("The message can be at most %(max)s characters; this one has %(count)s."))
    variants = [_clean_text(v, f"variants.{i}", room,
                            too_long=N_("An alternative text can be at most %(max)s characters; this one has "
                                        "%(count)s."))
                for i, v in enumerate(data.variants or ())]
    variants = [v for v in variants if v]
    if len(variants) > MAX_VARIANTS - 1:
        raise Invalid("variants", "A template has at most %(max)s versions of its text.", max=MAX_VARIANTS)
    if data.media_id is not None:
        found = await media_store.get(ws.db, data.media_id)
        if found is None:
            raise Invalid("media_id", "No such file; upload it first.")
        media.sendable(found)
    return TemplateInput(name, body, tuple(variants), footer, data.media_id)


async def list_all(ws: Workspace) -> list[Template]:
    return await store.list_all(ws.db)


async def get(ws: Workspace, template_id: int) -> Template:
    found = await store.get(ws.db, template_id)
    if found is None:
        raise NotFound("No such template.")
    return found


def _taken(name: str) -> Conflict:
    return Conflict("A template named '%(name)s' exists already; choose another name.", details={"name": "taken"},
                    name=name)


async def create(ws: Workspace, data: TemplateInput, *, created_by: int | None = None) -> Template:
    c = await clean(ws, data)
    now = int(time.time())

    def write(conn: sqlite3.Connection) -> int:
        if store.name_taken(conn, c.name):
            raise _taken(c.name)
        return store.insert(conn, name=c.name, body=c.body, variants=c.variants, footer=c.footer,
                            media_id=c.media_id, created_by=created_by, now=now)

    return await get(ws, await ws.db.execute_write_fn(write))


async def update(ws: Workspace, template_id: int, data: TemplateInput) -> Template:
    await get(ws, template_id)
    c = await clean(ws, data)
    now = int(time.time())

    def write(conn: sqlite3.Connection) -> bool:
        if store.name_taken(conn, c.name, except_id=template_id):
            raise _taken(c.name)
        return store.update(conn, template_id, name=c.name, body=c.body, variants=c.variants, footer=c.footer,
                            media_id=c.media_id, now=now)

    if not await ws.db.execute_write_fn(write):
        raise NotFound("No such template.")
    return await get(ws, template_id)


async def delete(ws: Workspace, template_id: int) -> None:
    if not await store.delete(ws.db, template_id, int(time.time())):
        raise NotFound("No such template.")


# -- using a template -----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Rendered:
    text: str
    media_id: int | None
    variant: int  # which of the template's texts (0 = the body)
    unknown: list[str]  # variables no contact can have, kept as written in `text`


async def contact_values(ws: Workspace, contact_id: int) -> dict[str, str]:
    contact = await contacts_store.get(ws.db, contact_id)
    if contact is None or contact.deleted_at is not None:
        raise NotFound("No such contact in this workspace.")
    return values_of(contact, await fields_store.list_all(ws.db))


async def render_for(ws: Workspace, template_id: int, contact_id: int, *, variant: int | None = None) -> Rendered:
    """The template as this contact would get it: for the inbox composer and auto-replies. `variant` picks one of
    its texts (None: rotate by contact, so one person always gets the same one)."""
    template = await get(ws, template_id)
    values = await contact_values(ws, contact_id)
    bodies = template.bodies
    index = (contact_id if variant is None else variant) % len(bodies)
    unknown = unknown_in([*bodies, template.footer], values)
    return Rendered(compose(bodies[index], template.footer, values), template.media_id, index, unknown)


@dataclass(frozen=True, slots=True)
class Preview:
    variants: list[list[Part]]  # one rendering per text
    footer: list[Part]
    unknown: list[str]
    contact: Contact | None  # whose details filled it; None: example values


EXAMPLE = {"first_name": "Budi", "name": "Budi Santoso", "last_name": "Santoso", "phone": "+6281234567890",
           "email": "budi@example.com"}


async def preview(ws: Workspace, bodies: Sequence[str], footer: str = "", contact_id: int | None = None) -> Preview:
    """Render texts for one contact (or example values) with every variable marked, unknown ones included."""
    specs = await fields_store.list_all(ws.db)
    contact = None
    if contact_id is not None:
        contact = await contacts_store.get(ws.db, contact_id)
        if contact is not None and contact.deleted_at is not None:
            contact = None
    if contact is not None:
        values = values_of(contact, specs)
    else:
        values = EXAMPLE | {f.key: (f.options[0] if f.options else f.label) for f in specs}
    texts = [b for b in bodies if b and b.strip()] or [""]
    known = BUILTINS.keys() | {f.key for f in specs}
    return Preview([render_parts(b, values) for b in texts], render_parts(footer, values) if footer else [],
                   unknown_in([*texts, footer], known), contact)

"""Meta's message templates for Cloud API numbers: sync them, create and submit new ones, and map our variables
to their parameters.

Outside the 24-hour window after a customer's last message, the Cloud API only sends templates Meta approved. A
template's parameters are positional (`{{1}}`, `{{2}}`) or named (`{{customer_name}}`); each gets a text from us,
which may hold our variables (`{{first_name|Kak}}`), rendered per contact into a `TemplateCall`. A template written
here with our variables is submitted with positional parameters and its mapping filled in, so it needs no second
step. Meta's parameter-mismatch errors (132000...) are explained in words (`explain`).
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from blazz import templates
from blazz.errors import Invalid, NotFound
from blazz.i18n import N_, gettext
from blazz.store import accounts as accounts_store
from blazz.store import templates as store
from blazz.store.templates import CloudTemplateRow, SyncedTemplate
from blazz.whatsapp.protocol import EngineError, TemplateCall
from blazz.workspaces import Workspace

_PARAM = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}")
_NAME = re.compile(r"^[a-z0-9_]{1,512}$")
_LANGUAGE = re.compile(r"^[a-z]{2,3}(_[A-Z]{2})?$")
CATEGORIES = ("MARKETING", "UTILITY")  # AUTHENTICATION templates carry one-time codes, not our messages
MAX_BODY = 1024  # Meta's limit for a template body
MAX_HEADER = 60
MAX_FOOTER = 60
MAX_PARAM = 1024


@dataclass(frozen=True, slots=True)
class Param:
    key: str  # "body.1", "body.customer_name", "header.1": how the mapping names it
    component: str  # header | body
    name: str  # "1" or the named parameter
    example: str | None


def _component(t: CloudTemplateRow, kind: str) -> dict[str, Any] | None:
    return next((c for c in t.components if str(c.get("type", "")).upper() == kind), None)


def body_text(t: CloudTemplateRow) -> str:
    return str((_component(t, "BODY") or {}).get("text") or "")


def footer_text(t: CloudTemplateRow) -> str:
    return str((_component(t, "FOOTER") or {}).get("text") or "")


def header_format(t: CloudTemplateRow) -> str | None:
    """TEXT, IMAGE, VIDEO, DOCUMENT or LOCATION; None without a header."""
    header = _component(t, "HEADER")
    return str(header.get("format") or "TEXT").upper() if header else None


def params_of(t: CloudTemplateRow) -> list[Param]:
    """Every parameter the template needs, header first, each once, in order."""
    out: list[Param] = []
    for kind in ("HEADER", "BODY"):
        comp = _component(t, kind)
        if comp is None or (kind == "HEADER" and header_format(t) != "TEXT"):
            continue
        examples = _examples(comp, kind)
        seen: list[str] = []
        for name in _PARAM.findall(str(comp.get("text") or "")):
            if name not in seen:
                seen.append(name)
        for i, name in enumerate(seen):
            example = examples.get(name) or (examples.get(str(i + 1)) if name.isdigit() else None)
            out.append(Param(f"{kind.lower()}.{name}", kind.lower(), name, example))
    return out


def _examples(comp: dict[str, Any], kind: str) -> dict[str, str]:
    example = comp.get("example") or {}
    if not isinstance(example, dict):
        return {}
    if kind == "BODY":
        named = example.get("body_text_named_params") or []
        if named:
            return {str(p.get("param_name")): str(p.get("example")) for p in named if isinstance(p, dict)}
        rows = example.get("body_text") or []
        values = rows[0] if rows and isinstance(rows[0], list) else []
    else:
        values = example.get("header_text") or []
    return {str(i + 1): str(v) for i, v in enumerate(values)}


# -- reading and syncing --------------------------------------------------------------------------------------------


async def list_for(ws: Workspace, account_id: int | None = None) -> list[CloudTemplateRow]:
    return await store.cloud_list(ws.db, account_id)


async def get(ws: Workspace, cloud_id: int) -> CloudTemplateRow:
    found = await store.cloud_get(ws.db, cloud_id)
    if found is None:
        raise NotFound("No such Cloud API template.")
    return found


async def _engine(ws: Workspace, account_id: int) -> Any:
    account = await accounts_store.get(ws.db, account_id)
    if account is None:
        raise NotFound("No such WhatsApp number in this workspace.")
    if account.engine != "cloud_api":
        raise Invalid("account_id", "Meta's templates belong to Cloud API numbers; this number is not one.")
    engine = ws.sessions.engine((ws.id, account_id)) if ws.sessions is not None else None
    if engine is None or ws.sessions.state((ws.id, account_id)).state != "connected":
        raise Invalid("account_id", "Connect %(name)s first: Blazz asks Meta for its templates through it.",
                      name=account.name)
    return engine


def _meta_error(exc: EngineError) -> Invalid:
    return Invalid("account_id", "Meta refused: %(reason)s", reason=str(exc.reason))


@dataclass(frozen=True, slots=True)
class SyncResult:
    added: int
    updated: int
    removed: int


async def sync(ws: Workspace, account_id: int) -> SyncResult:
    """Fetch every template of the number's WhatsApp Business Account and store it (our mappings are kept)."""
    engine = await _engine(ws, account_id)
    try:
        listed = await engine.list_templates()
    except EngineError as exc:
        raise _meta_error(exc) from None
    rows = [SyncedTemplate(t.id, t.name, t.language, t.category, t.status, t.components, t.parameter_format)
            for t in listed if t.name and t.language]
    now = int(time.time())
    added, updated, removed = await ws.db.execute_write_fn(lambda conn: store.cloud_sync(conn, account_id, rows, now))
    return SyncResult(added, updated, removed)


# -- mapping our variables to its parameters --------------------------------------------------------------------


async def set_mapping(ws: Workspace, cloud_id: int, mapping: Mapping[str, Any]) -> CloudTemplateRow:
    """Say what each parameter gets: text that may hold our variables. Unknown parameters or variables are refused."""
    t = await get(ws, cloud_id)
    keys = {p.key for p in params_of(t)}
    clean: dict[str, str] = {}
    for key, value in mapping.items():
        if key not in keys:
            raise Invalid(f"mapping.{key}", "This template has no parameter %(key)s.", key=key)
        text = " ".join(str(value or "").split())
        if len(text) > MAX_PARAM:
            raise Invalid(f"mapping.{key}", "A parameter can be at most %(max)s characters.", max=MAX_PARAM)
        if text:
            clean[key] = text
    await templates.check_known(ws, clean.values(), field="mapping")
    await store.cloud_set_mapping(ws.db, cloud_id, clean)
    return await get(ws, cloud_id)


def unmapped(t: CloudTemplateRow) -> list[str]:
    return [p.key for p in params_of(t) if not t.mapping.get(p.key)]


def call_for(t: CloudTemplateRow, values: Mapping[str, str], given: Mapping[str, str] | None = None) -> TemplateCall:
    """The template send for one contact. `given` holds literal texts by parameter key ("body.2"), e.g. typed by an
    agent for a parameter without a mapping; they win over the mapping. Raises Invalid when a parameter has no
    text or renders empty (Meta would refuse it with a parameter error)."""
    header: list[str] = []
    body: list[str] = []
    names: list[str] = []
    for p in params_of(t):
        text = _param_text(t, p, values, given)
        if text is None:
            raise Invalid(f"params.{p.key}", _UNSAID[p.component], param="{{" + p.name + "}}", name=t.name)
        if not text:
            raise Invalid(f"params.{p.key}", "%(param)s of %(name)s would be empty for this contact; "
                                             "add a fallback such as {{first_name|Kak}}.",
                          param="{{" + p.name + "}}", name=t.name)
        if p.component == "header":
            header.append(text)
        else:
            body.append(text)
            names.append(p.name)
    extra: dict[str, Any] = {}
    if header:
        extra["header_text"] = header
    if t.parameter_format == "NAMED" or (names and not all(n.isdigit() for n in names)):
        extra["body_param_names"] = names
    return TemplateCall(t.name, t.language, tuple(body), extra=extra)


# Whole sentences per part of the template, so each reads naturally once translated.
_UNSAID = {"header": N_("Say what goes in %(param)s of the header of %(name)s."),
           "body": N_("Say what goes in %(param)s of the body of %(name)s.")}


def _param_text(t: CloudTemplateRow, p: Param, values: Mapping[str, str],
                given: Mapping[str, str] | None) -> str | None:
    """What one parameter gets for this contact: a given literal, else its mapping rendered; None: nothing says."""
    literal = " ".join(str((given or {}).get(p.key) or "").split())
    if literal:
        return literal
    source = t.mapping.get(p.key)
    return templates.render(source, values).strip() if source else None


def open_params(t: CloudTemplateRow, values: Mapping[str, str]) -> list[Param]:
    """Parameters with nothing to fill them for this contact (no mapping, or it renders empty): someone has to
    type their text before the template can be sent."""
    return [p for p in params_of(t) if not _param_text(t, p, values, None)]


def check_given(t: CloudTemplateRow, given: Mapping[str, str]) -> dict[str, str]:
    """Literal parameter texts cleaned: known parameter keys only, at most MAX_PARAM characters, blanks dropped."""
    keys = {p.key for p in params_of(t)}
    clean: dict[str, str] = {}
    for key, value in given.items():
        if key not in keys:
            raise Invalid(f"params.{key}", "The template %(name)s has no parameter %(key)s.", name=t.name, key=key)
        text = " ".join(str(value or "").split())
        if len(text) > MAX_PARAM:
            raise Invalid(f"params.{key}", "A parameter can be at most %(max)s characters.", max=MAX_PARAM)
        if text:
            clean[key] = text
    return clean


def text_for(t: CloudTemplateRow, values: Mapping[str, str], given: Mapping[str, str] | None = None, *,
             header: bool = False) -> str:
    """The template's body as the contact reads it (for the copy kept in the conversation); with `header` a text
    header comes first, on its own line. A parameter with nothing to fill it stays as {{n}}."""
    def fill(component: str, text: str) -> str:
        rendered = {p.name: _param_text(t, p, values, given) for p in params_of(t) if p.component == component}
        return _PARAM.sub(lambda m: rendered.get(m.group(1)) or m.group(0), text)

    body = fill("body", body_text(t))
    footer = footer_text(t)
    out = f"{body}\n\n{footer}" if footer else body
    head = str((_component(t, "HEADER") or {}).get("text") or "") if header and header_format(t) == "TEXT" else ""
    return f"{fill('header', head)}\n{out}" if head else out


# -- creating and submitting ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NewCloudTemplate:
    name: str
    language: str
    category: str
    body: str  # with our variables: {{first_name|Kak}}, {{city}}
    header: str = ""
    footer: str = ""


async def create(ws: Workspace, account_id: int, data: NewCloudTemplate) -> CloudTemplateRow:
    """Submit a template for Meta's review. Our variables become positional parameters ({{1}}, {{2}}...) with
    example values, and the mapping back to our variables is stored, so it is ready to send once approved."""
    name = (data.name or "").strip().lower().replace(" ", "_")
    if not _NAME.match(name):
        raise Invalid("name", "Use lowercase letters, digits and underscores for the name, e.g. order_update.")
    language = (data.language or "").strip()
    if not _LANGUAGE.match(language):
        raise Invalid("language", "Give the language code Meta uses, e.g. id, en_US or pt_BR.")
    category = (data.category or "").strip().upper()
    if category not in CATEGORIES:
        raise Invalid("category", "Choose MARKETING or UTILITY.")
    body = (data.body or "").strip()
    if not body:
        raise Invalid("body", "Write the template's text.")
    if len(body) > MAX_BODY:
        raise Invalid("body", "Meta allows at most %(max)s characters in a template's text.", max=MAX_BODY)
    header, footer = (data.header or "").strip(), (data.footer or "").strip()
    if len(header) > MAX_HEADER:
        raise Invalid("header", "Meta allows at most %(max)s characters in a header.", max=MAX_HEADER)
    if len(footer) > MAX_FOOTER:
        raise Invalid("footer", "Meta allows at most %(max)s characters in a footer.", max=MAX_FOOTER)
    if templates.placeholders(footer):
        raise Invalid("footer", "A template's footer cannot hold variables.")
    await templates.check_known(ws, [body, header])
    known = await templates.known_variables(ws)
    mapping: dict[str, str] = {}
    components: list[dict[str, Any]] = []
    if header:
        text, used = _positional(header, "header", mapping)
        if len(used) > 1:
            raise Invalid("header", "A template's header can hold one variable at most.")
        comp: dict[str, Any] = {"type": "HEADER", "format": "TEXT", "text": text}
        if used:
            comp["example"] = {"header_text": [_example(u, known) for u in used]}
        components.append(comp)
    text, used = _positional(body, "body", mapping)
    if text.strip().startswith("{{") or text.strip().endswith("}}"):
        raise Invalid("body", "Meta refuses a template that starts or ends with a variable; add a word around it.")
    comp = {"type": "BODY", "text": text}
    if used:
        comp["example"] = {"body_text": [[_example(u, known) for u in used]]}
    components.append(comp)
    if footer:
        components.append({"type": "FOOTER", "text": footer})
    engine = await _engine(ws, account_id)
    try:
        made = await engine.create_template(name, language, category, components)
    except EngineError as exc:
        raise _meta_error(exc) from None
    row = SyncedTemplate(made.id, name, language, made.category or category, made.status or "PENDING", components,
                         "POSITIONAL")

    cloud_id = await ws.db.execute_write_fn(lambda conn: store.cloud_upsert(conn, account_id, row, int(time.time())))
    return await set_mapping(ws, cloud_id, mapping)


def _positional(text: str, component: str, mapping: dict[str, str]) -> tuple[str, list[str]]:
    """Our variables replaced by {{1}}, {{2}}... (one number per distinct variable); mapping filled in."""
    used: list[str] = []
    sources: dict[str, str] = {}

    def swap(m: re.Match[str]) -> str:
        raw = m.group(0)
        if raw not in sources:
            used.append(raw)
            sources[raw] = str(len(used))
            mapping[f"{component}.{len(used)}"] = raw
        return "{{" + sources[raw] + "}}"

    return re.sub(r"\{\{.*?\}\}", swap, text), used


def _example(variable: str, known: Mapping[str, str]) -> str:
    p = templates.placeholders(variable)[0]
    return templates.EXAMPLE.get(p.name) or p.fallback or known.get(p.name, p.name)


# -- Meta's template errors in words ------------------------------------------------------------------------------

_EXPLAINED = {  # English here; explain() translates at display time, so a stored reason reads in any language
    "132000": N_("Meta expected a different number of values for this template than Blazz sent. Sync the number's "
                 "templates (it may have been edited on Meta's side) and check what goes in each {{1}}, {{2}}…"),
    "132001": N_("Meta has no template with this name in this language. Sync the number's templates and choose "
                 "again."),
    "132005": N_("With this contact's details the template's text is longer than Meta allows; shorten the values."),
    "132007": N_("Meta refused the values for this template under its content policy."),
    "132012": N_("A value does not have the format Meta expects for this template (e.g. text where a link goes)."),
    "132015": N_("Meta paused this template for low quality; choose another template or wait until it is active."),
    "132016": N_("Meta disabled this template for low quality; choose another template."),
}


def explain(reason: str | None) -> str | None:
    """A Meta template error in a sentence a shop owner can act on, in the current language (other reasons are
    returned as they are). A reason explained earlier (stored in English) still holds its code, so it is explained
    again in the reader's language."""
    if not reason:
        return reason
    for code, words in _EXPLAINED.items():
        if code in reason:
            return gettext("%(explanation)s (Meta error %(code)s)", explanation=gettext(words), code=code)
    return reason

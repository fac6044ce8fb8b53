"""Translation catalogs: find what needs translating, add it to a language's catalog, and check nothing is missing.

    python scripts/i18n.py update <area> [--lang id]   add the area's new strings (empty translations) to its .po
    python scripts/i18n.py check [--lang id]           every string translated, no bare text in templates (exit 1)
    python scripts/i18n.py areas                       which files each area covers

Strings are found in templates (`_()`, `{% trans %}`), in Python (`_()`, `N_()`, `ngettext()`, and the messages of
domain errors such as `Invalid("field", "...")`) and in JavaScript (`t("...")`). Each area of the product has its own
catalog file (`blazz/locale/<lang>/<area>.po`) so areas can be translated independently; the app merges them.
"""

from __future__ import annotations

import ast
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from fnmatch import fnmatch
from html.parser import HTMLParser
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "blazz"
LOCALE_DIR = PACKAGE / "locale"

# Area -> path patterns (relative to the package). A file belongs to the first area that matches it.
AREAS: dict[str, tuple[str, ...]] = {
    "inbox": ("web/templates/inbox/*", "web/inbox*.py", "inbox*.py", "canned_replies.py", "search.py",
              "voice_messages.py", "assets/js/inbox.js"),
    "campaigns": ("web/templates/campaigns/*", "web/campaigns.py", "campaign*.py", "pacing.py",
                  "web/api/campaigns.py", "web/api/pacing.py"),
    "templates": ("web/templates/message_templates/*", "web/templates_page.py", "templates.py", "cloud_templates.py"),
    "contacts": ("web/templates/contacts/*", "web/contacts.py", "contact*.py", "custom_fields.py", "phones.py",
                 "web/api/contacts.py"),
    "numbers": ("web/templates/accounts/*", "web/accounts.py", "accounts.py", "whatsapp/*", "whatsapp/*/*",
                "web/api/accounts.py", "web/cloud_webhook.py"),
    "automation": ("web/templates/automation/*", "web/automation.py", "automation.py", "auto_replies.py",
                   "business_hours.py", "web/api/auto_replies.py"),
    "dashboard": ("web/templates/dashboard/*", "web/dashboard.py", "dashboard.py"),
    "settings": ("web/templates/settings/*", "web/settings_general.py", "web/webhooks_page.py",
                 "web/api_tokens_page.py", "web/audit_page.py", "web/diagnostics_page.py", "web/backups.py",
                 "workspace_settings.py", "webhooks.py", "webhook_delivery.py", "message_webhooks.py", "api_tokens.py",
                 "audit.py", "backup.py", "restore.py", "diagnostics.py", "lan.py", "logs.py", "web/api/webhooks.py"),
    "delivery": ("outbox.py", "delivery/*", "ingest.py", "media.py", "web/api/messages.py"),
    "account": ("web/templates/account/*", "web/templates/auth/*", "web/templates/workspace/*", "web/account.py",
                "web/auth.py", "web/workspace_pages.py", "auth.py", "workspaces.py"),
    "common": ("*",),
}

# Words that stay the same in every language (names, formats, units): text made only of these is not "untranslated".
INVARIANT = {
    "Blazz", "WhatsApp", "API", "REST", "CSV", "XLSX", "xlsx", "csv", "QR", "URL", "URLs", "ID", "Meta", "Cloud",
    "OK", "HTTPS", "HTTP", "LAN", "Wi-Fi", "JSON", "SQLite", "TOTP", "SSE", "E.164", "Swagger", "UI", "Graph", "MB",
    "KB", "GB", "UTC", "HMAC", "SHA", "Bearer", "Idempotency-Key", "Ctrl", "Enter", "Esc", "Shift", "Tab", "Alt",
    "Cmd", "j", "k", "e", "x", "v", "am", "pm", "px", "ffmpeg", "neonize", "Webhook", "webhook",
}
TEXT_ATTRIBUTES = ("title", "placeholder", "aria-label", "alt", "hx-confirm", "data-confirm", "data-title",
                   "data-label", "label", "data-tip")

PY_KEYWORDS = {
    "_": None, "gettext": None, "N_": None, "ngettext": (1, 2), "toast": None,
    # Domain errors (blazz/errors.py and subclasses): the message is the first argument, or the second for Invalid.
    "DomainError": None, "NotFound": None, "Conflict": None, "Forbidden": None, "TooMany": None, "OptedOut": None,
    "TooLarge": None, "BackupUnavailable": None, "Invalid": (2,),
}
ERROR_NAMES = {name for name in PY_KEYWORDS if name[0].isupper()}


@dataclass(frozen=True)
class Found:
    msgid: str | tuple[str, str]
    path: str
    line: int


def area_of(relative: str) -> str:
    for area, patterns in AREAS.items():
        if any(fnmatch(relative, p) for p in patterns):
            return area
    return "common"


def source_files() -> Iterator[Path]:
    yield from sorted((PACKAGE / "web" / "templates").rglob("*.html"))
    yield from sorted(p for p in PACKAGE.rglob("*.py") if "locale" not in p.parts)
    yield from sorted((PACKAGE / "assets" / "js").glob("*.js"))


def extract(path: Path) -> Iterator[Found]:
    from babel.messages.extract import extract_python
    from jinja2.ext import babel_extract

    relative = path.relative_to(PACKAGE).as_posix()
    with path.open("rb") as f:
        if path.suffix == ".html":
            items = babel_extract(f, ("_", "gettext", "ngettext"), [], {"extensions": "jinja2.ext.i18n",
                                                                       "trimmed": "false"})
            for line, func, message, _comments in items:
                if isinstance(message, tuple):  # `_("%(n)s left", n=x)`: keyword arguments come as None at the end
                    strings = [m for m in message if m is not None]
                    message = (strings[0] if strings else None) if func in ("_", "gettext") else tuple(strings[:2])
                yield from _found(message, relative, line)
        elif path.suffix == ".py":
            for line, func, message, _comments in extract_python(f, list(PY_KEYWORDS), [], {}):
                spec = PY_KEYWORDS.get(func)
                if spec == (2,) and isinstance(message, tuple):
                    message = message[1]
                elif spec is None and isinstance(message, tuple):
                    message = message[0]
                elif spec == (1, 2) and isinstance(message, tuple):
                    message = (message[0], message[1])
                yield from _found(message, relative, line)
        else:
            for n, text in enumerate(f.read().decode().splitlines(), 1):
                for match in re.finditer(r"""\bt\((["'])((?:\\.|(?!\1).)+)\1""", text):
                    yield Found(match.group(2).encode().decode("unicode_escape"), relative, n)


def _found(message: object, relative: str, line: int) -> Iterator[Found]:
    if isinstance(message, str) and message:
        yield Found(message, relative, line)
    elif isinstance(message, tuple) and len(message) == 2 and all(isinstance(m, str) and m for m in message):
        yield Found((message[0], message[1]), relative, line)


def all_strings() -> list[Found]:
    return [found for path in source_files() for found in extract(path)]


# -- what is not marked for translation ---------------------------------------------------------------------------


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.skip = 0
        self.texts: list[tuple[int, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self.skip += 1
        for name, value in attrs:
            if name in TEXT_ATTRIBUTES and value:
                self.texts.append((self.getpos()[0], value))

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style") and self.skip:
            self.skip -= 1

    def handle_data(self, data: str) -> None:
        if not self.skip:
            self.texts.append((self.getpos()[0], data))


def _needs_translation(text: str) -> bool:
    words = re.findall(r"[^\W\d_][\w.'’-]*", text.replace("\x00", " "))
    return any(w.strip(".'’-") not in INVARIANT and len(w.strip(".'’-")) > 1 for w in words)


def bare_template_text(path: Path) -> list[tuple[int, str]]:
    """Literal text (and text attributes) of a template that does not go through `_()` or `{% trans %}`."""
    from jinja2 import Environment

    env = Environment(extensions=["jinja2.ext.i18n"])
    source = path.read_text()
    pieces: list[str] = []
    depth, in_trans, tag_next = 0, False, False
    for _line, kind, value in env.lex(source):
        if kind == "block_begin":
            tag_next = True
            continue
        if tag_next and kind == "name":
            if value in ("trans", "pluralize"):
                in_trans = value == "trans" or in_trans
            elif value == "endtrans":
                in_trans = False
            tag_next = False
        if kind in ("variable_begin", "block_begin"):
            depth += 1
        elif kind in ("variable_end", "block_end"):
            depth -= 1
            pieces.append("\x00")
        elif kind == "data" and not in_trans:
            pieces.append(value)
        elif kind == "data":
            pieces.append("\x00" * value.count("\n") if "\n" in value else "\x00")
    # Re-align line numbers: pieces keep every newline of the data; expressions count as one line at most.
    parser = _Text()
    parser.feed("".join(pieces))
    parser.close()
    return [(line, " ".join(text.replace("\x00", " ").split())) for line, text in parser.texts
            if _needs_translation(text)]


def f_string_errors(path: Path) -> list[tuple[int, str]]:
    """Domain errors raised with an f-string message: they cannot be translated (use %(name)s and keywords)."""
    tree = ast.parse(path.read_text())
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ERROR_NAMES:
            position = 1 if node.func.id == "Invalid" else 0
            if len(node.args) > position and isinstance(node.args[position], ast.JoinedStr | ast.BinOp):
                found.append((node.lineno, node.func.id))
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("_", "gettext", "toast")
                and node.args and isinstance(node.args[0], ast.JoinedStr)):
            found.append((node.lineno, node.func.id))
    return found


# -- catalogs -----------------------------------------------------------------------------------------------------


def read_catalogs(lang: str) -> dict[str, dict]:
    from babel.messages.pofile import read_po

    catalogs = {}
    for path in sorted((LOCALE_DIR / lang).glob("*.po")):
        with path.open("rb") as f:
            catalogs[path.stem] = read_po(f, locale=lang)
    return catalogs


def translated(catalogs: dict, msgid: str | tuple[str, str]) -> bool:
    key = msgid[0] if isinstance(msgid, tuple) else msgid
    for catalog in catalogs.values():
        message = catalog.get(key)
        if message is not None and message.string and (not isinstance(message.string, tuple) or all(message.string)):
            return True
    return False


def known(catalogs: dict, msgid: str | tuple[str, str]) -> bool:
    key = msgid[0] if isinstance(msgid, tuple) else msgid
    return any(catalog.get(key) is not None for catalog in catalogs.values())


def placeholders(text: str) -> set[str]:
    return set(re.findall(r"%\((\w+)\)[sd]", text))


def update(area: str, lang: str) -> int:
    from babel.messages.catalog import Catalog
    from babel.messages.pofile import read_po, write_po

    catalogs = read_catalogs(lang)
    path = LOCALE_DIR / lang / f"{area}.po"
    if path.exists():
        with path.open("rb") as f:
            catalog = read_po(f, locale=lang)
    else:
        catalog = Catalog(locale=lang, project="Blazz", header_comment=f"# Blazz: {area}, {lang}")
    added = 0
    for found in all_strings():
        if area_of(found.path) != area:
            continue
        key = found.msgid[0] if isinstance(found.msgid, tuple) else found.msgid
        if catalog.get(key) is not None:
            catalog.get(key).locations.append((found.path, found.line))
            continue
        if known(catalogs, found.msgid):
            continue  # another area's catalog already has it
        catalog.add(found.msgid, ("", "") if isinstance(found.msgid, tuple) else "", [(found.path, found.line)])
        added += 1
    for message in catalog:
        message.locations = sorted(set(message.locations))
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        write_po(f, catalog, width=120, sort_output=False, omit_header=False)
    empty = sum(1 for m in catalog if m.id and not translated({"x": catalog}, m.id))
    print(f"{path.relative_to(ROOT)}: {added} new, {empty} without a translation")
    return 0


def problems(lang: str) -> list[str]:
    """Everything that stops the catalogs from being complete, as readable lines."""
    catalogs = read_catalogs(lang)
    out = []
    for found in all_strings():
        if not translated(catalogs, found.msgid):
            out.append(f"{found.path}:{found.line}: no {lang} translation for {found.msgid!r}")
    first_seen: dict[str, tuple[str, object]] = {}
    for area, catalog in catalogs.items():
        for message in catalog:
            if not message.id or not message.string:
                continue
            key = message.id if isinstance(message.id, str) else message.id[0]
            if key in first_seen and first_seen[key][1] != message.string:
                out.append(f"{key!r} is translated differently in {first_seen[key][0]}.po and {area}.po (keep one)")
            first_seen.setdefault(key, (area, message.string))
            ids = message.id if isinstance(message.id, tuple) else (message.id,)
            strings = message.string if isinstance(message.string, tuple) else (message.string,)
            if any(placeholders(s) != placeholders(ids[0]) for s in strings if s):
                out.append(f"placeholders differ between {ids[0]!r} and its {lang} translation {strings!r}")
    for path in sorted((PACKAGE / "web" / "templates").rglob("*.html")):
        for line, text in bare_template_text(path):
            out.append(f"{path.relative_to(PACKAGE)}:~{line}: text not marked for translation: {text[:80]!r}")
    for path in sorted(PACKAGE.rglob("*.py")):
        for line, what in f_string_errors(path):
            out.append(f"{path.relative_to(PACKAGE)}:{line}: {what}(...) with an f-string cannot be translated")
    return out


def main(argv: list[str]) -> int:
    lang = "id"
    if "--lang" in argv:
        lang = argv[argv.index("--lang") + 1]
        del argv[argv.index("--lang"):argv.index("--lang") + 2]
    command = argv[0] if argv else "check"
    if command == "update" and len(argv) == 2 and argv[1] in AREAS:
        return update(argv[1], lang)
    if command == "check":
        lines = problems(lang)
        only = argv[1] if len(argv) > 1 else None
        if only:
            lines = [line for line in lines if area_of(line.split(":")[0]) == only]
        print("\n".join(lines) or "Every string is translated.")
        return 1 if lines else 0
    if command == "areas":
        for path in source_files():
            print(area_of(path.relative_to(PACKAGE).as_posix()), path.relative_to(PACKAGE))
        return 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""`blazz demo`: a new workspace holding a believable year of a small shop's WhatsApp life.

Everything is generated from a seeded random source (same sizes, same people and words), built in a temporary file
and only then registered as a workspace, so a running server never sees a half-filled workspace. A million messages
load in well under a minute: rows go in with `executemany` in one transaction and the search index is built once.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import random
import secrets
import sys
import time
from bisect import bisect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import accumulate
from pathlib import Path
from string import Formatter
from typing import TypeVar

import phonenumbers

from blazz import auth, workspaces
from blazz.config import Settings
from blazz.errors import Conflict, Invalid, NotFound
from blazz.store import demo_data
from blazz.store import users as users_store
from blazz.store.database import Database
from blazz.store.registry import Databases
from blazz.store.workspace_schema import WORKSPACE_MIGRATIONS

T = TypeVar("T")

SEED = 20_240_817
WORKSPACE_NAME = "Demo shop"
DEMO_EMAIL = "demo@blazz.local"
ACCOUNT_NAME = "Demo number (Sandbox)"
# The sandbox engine reads "linked" (skip the QR, come online at start) and "phone" (its own number) from here.
ACCOUNT_SETTINGS = {"linked": True}
PREVIEW_LEN = 200
BATCH = 50_000  # rows per executemany: large enough that Python, not SQLite, is the limit
DAY = 86_400
HISTORY_S = 365 * DAY

# -- vocabulary ---------------------------------------------------------------------------------------------------

ID_FIRST = ("Budi", "Siti", "Agus", "Dewi", "Rina", "Andi", "Putri", "Eko", "Sri", "Wahyu", "Indah", "Rizky", "Ayu",
            "Dian", "Fajar", "Nur", "Yanti", "Hendra", "Lestari", "Bayu", "Maya", "Adi", "Ratna", "Joko", "Fitri",
            "Arif", "Nina", "Dimas", "Wulan", "Teguh", "Sari", "Yoga", "Intan", "Reza", "Mega", "Irfan", "Anisa",
            "Bambang", "Kartika", "Galih", "Citra", "Hadi", "Nabila", "Surya", "Tari", "Rudi", "Ika", "Aditya",
            "Bunga", "Ilham", "Made", "Ketut", "Wayan")
ID_LAST = ("Santoso", "Wijaya", "Saputra", "Hidayat", "Pratama", "Nugroho", "Kusuma", "Lestari", "Setiawan",
           "Susanto", "Wibowo", "Siregar", "Nasution", "Harahap", "Gunawan", "Halim", "Tanjung", "Purnomo", "Rahman",
           "Simanjuntak", "Hakim", "Firmansyah", "Kurniawan", "Putra", "Utami", "Hasibuan", "Lubis", "Sinaga",
           "Permana", "Suryadi", "Hartono", "Salim")
EN_FIRST = ("James", "Emma", "Oliver", "Sophia", "Liam", "Olivia", "Noah", "Ava", "Lucas", "Mia", "Ethan", "Chloe",
            "Daniel", "Grace", "Jack", "Lily", "Ryan", "Zoe", "Adam", "Ella", "Aisha", "Wei", "Priya", "Arjun", "Mei",
            "Hannah", "Lukas", "Sanne", "Daan", "Jasmine", "Marcus", "Sarah")
EN_LAST = ("Smith", "Johnson", "Brown", "Taylor", "Wilson", "Lee", "Walker", "Hall", "Young", "King", "Wright",
           "Green", "Baker", "Clark", "Lewis", "Turner", "Scott", "Evans", "Hughes", "Murphy", "Tan", "Lim", "Wong",
           "Ng", "Chua", "Patel", "Sharma", "Muller", "Schmidt", "Jansen", "Visser")
MAIL_DOMAINS = ("gmail.com", "gmail.com", "gmail.com", "yahoo.co.id", "yahoo.com", "outlook.com", "icloud.com",
                "hotmail.com", "ymail.com")
NOTES = ("Prefers delivery after 5 pm", "Reseller in Bandung, asks for wholesale prices", "Minta invoice PPN",
         "Bayar selalu tepat waktu", "Allergic to peanuts: no sambal kacang", "Ambil sendiri di toko")
CITIES = ("Jakarta", "Surabaya", "Bandung", "Medan", "Semarang", "Makassar", "Yogyakarta", "Denpasar", "Palembang",
          "Malang")
SOURCES = ("Instagram", "Tokopedia", "Shopee", "Website", "Walk-in", "Referral")
ID_PRODUCTS = ("kaos polos", "hijab voal", "kopi arabika", "sambal bawang", "keripik pisang", "batik tulis",
               "tas rajut", "sepatu sneakers", "madu hutan", "brownies coklat", "sabun herbal", "gamis katun",
               "kemeja flanel", "lilin aromaterapi", "teh melati")
EN_PRODUCTS = ("cotton t-shirt", "arabica coffee", "chili sauce", "batik shirt", "leather wallet", "scented candle",
               "forest honey", "sneakers", "tote bag", "banana chips", "jasmine tea", "herbal soap")
PROMOS = ("Harbolnas", "Ramadan", "12.12", "akhir bulan", "weekend", "payday", "Lebaran")
PHRASES = {
    ("id", "in"): (
        "Halo kak, {p} masih ready?", "Kak, {p} ukuran L ada?", "Berapa harga {p}?", "Saya mau pesan {q} {p} ya",
        "Ongkir ke {c} berapa kak?", "Sudah transfer ya kak, mohon dicek", "Pesanan {o} kapan dikirim?",
        "Terima kasih kak, barangnya sudah sampai 🙏", "Bisa COD ke {c}?", "Ada diskon untuk pembelian grosir?",
        "Resi pengirimannya mana ya kak?", "Warna lain ada kak?", "Oke kak, saya tunggu", "Barangnya bagus, mantap!",
        "Kak, paket {o} belum sampai", "Bisa kirim hari ini?", "Mau tanya, {p} bahannya apa?",
        "Promo {d} masih berlaku?", "Siap kak", "Makasih ya kak",
    ),
    ("id", "out"): (
        "Halo kak {n}, {p} ready ya 😊", "Harga {p} Rp{r} kak", "Total jadi Rp{r} belum termasuk ongkir ya kak",
        "Pesanan {o} sudah dikirim, resi menyusul ya kak", "Terima kasih sudah belanja di toko kami 🙏",
        "Baik kak, kami cek dulu ya", "Ongkir ke {c} Rp{s} kak",
        "Transfernya sudah kami terima, pesanan {o} diproses hari ini", "Stok {p} tinggal sedikit kak",
        "Bisa kak, COD untuk area {c}", "Promo {d}: diskon 10% untuk semua {p}!",
        "Maaf kak, {p} sedang kosong. Restock minggu depan", "Sama-sama kak {n}, ditunggu orderan berikutnya",
    ),
    ("en", "in"): (
        "Hi, is the {p} still available?", "How much is the {p}?", "I'd like to order {q} {p}, please",
        "What's the shipping cost to {c}?", "Just paid, please check", "When will order {o} ship?",
        "Got it, thanks!", "Do you have it in another colour?", "Order {o} hasn't arrived yet",
        "Can you send an invoice?", "Thank you, it arrived today", "Is there a discount for bulk orders?",
    ),
    ("en", "out"): (
        "Hi {n}, yes the {p} is in stock 😊", "The {p} is Rp{r}", "Your order {o} has shipped, tracking number follows",
        "Thanks for shopping with us!", "Payment received, we'll pack order {o} today",
        "Sorry, the {p} is sold out. Back next week", "Shipping to {c} is Rp{s}", "Let me check and get back to you",
        "{d} sale: 10% off every {p}!",
    ),
}
SEND_ERRORS = ("This number is not on WhatsApp", "Message undeliverable (131026)", "Timed out waiting for the server")
GROUPS = (  # name, colour, share of contacts in it
    ("Pelanggan Setia", "#25d366", 0.20), ("VIP", "#f59e0b", 0.05), ("Reseller", "#6366f1", 0.08),
    ("Jakarta", "#ef4444", 0.25), ("Newsletter", "#a855f7", 0.30), ("Leads Instagram", "#ec4899", 0.15),
    ("Surabaya", "#0ea5e9", 0.10), ("Wholesale", "#14b8a6", 0.04),
)
CUSTOM_FIELDS = (  # key, label, type, options
    ("city", "City", "select", list(CITIES)), ("source", "Lead source", "select", list(SOURCES)),
    ("birthday", "Birthday", "date", []), ("points", "Loyalty points", "number", []),
    ("newsletter", "Newsletter", "checkbox", []),
)
# Mobile number shapes per country: (calling code, national prefixes, digits after the prefix, weight).
# Indonesian ranges are the operators' published mobile prefixes; the others are checked with phonenumbers.
PHONE_PLANS = (
    ("ID", "+62", ("811", "812", "813", "821", "822", "823", "851", "852", "853", "814", "815", "816", "855",
                   "856", "857", "858", "817", "818", "819", "859", "877", "878", "831", "832", "838", "895",
                   "896", "897", "898", "899", "881", "882", "887", "888"), (7, 8, 9), 85.0),
    ("MY", "+60", ("12", "13", "16", "17", "19"), (7,), 4.0),
    ("SG", "+65", ("8", "9"), (7,), 3.0),
    ("US", "+1", ("415", "212", "646", "917", "310", "512"), (7,), 2.0),
    ("GB", "+44", ("77", "78", "79"), (8,), 1.5),
    ("AU", "+61", ("40", "41", "42", "43"), (7,), 1.5),
    ("IN", "+91", ("98", "99", "97", "96", "90", "70", "80"), (8,), 1.5),
    ("NL", "+31", ("61", "62", "63", "64", "65"), (7,), 0.75),
    ("DE", "+49", ("151", "160", "170", "171", "176"), (7, 8), 0.75),
)


@dataclass(frozen=True, slots=True)
class Sizes:
    contacts: int
    messages: int
    conversations: int


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


async def run_demo(settings: Settings, contacts: int = 500, messages: int = 5000, conversations: int | None = None,
                   owner_email: str | None = None, *, seed: int = SEED) -> str:
    """Create a filled demo workspace owned by `owner_email` (or the first user, or a new demo user); its slug."""
    sizes = plan_sizes(contacts, messages, conversations)
    dbs = Databases(settings.data_dir)
    await dbs.open()
    root = settings.data_dir / "workspaces"
    root.mkdir(parents=True, exist_ok=True)
    # Not "<id>/workspace.db": the server migrates every such file at startup and must never open this one half-built.
    build_path = root / f".demo-{secrets.token_hex(6)}.db"
    try:
        owner_id = await _owner(dbs.app, owner_email)
        started = time.perf_counter()
        _say(f"Generating a demo workspace: {sizes.contacts:,} contacts, {sizes.conversations:,} conversations, "
             f"{sizes.messages:,} messages")
        await asyncio.to_thread(build_workspace_file, build_path, sizes, owner_id, seed)
        ws = await workspaces.create_workspace(dbs.app, WORKSPACE_NAME, owner_id)
        target = dbs.workspace_path(ws.id)
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists():
            raise Conflict("%(path)s already exists; remove the stale workspace folder and run the demo again.",
                           path=str(target))
        os.replace(build_path, target)
        _say(f"Demo workspace '{ws.name}' ready at /w/{ws.slug}/ in {time.perf_counter() - started:.1f} s")
        return ws.slug
    finally:
        for leftover in (build_path, build_path.with_name(build_path.name + "-journal")):
            leftover.unlink(missing_ok=True)
        await dbs.close()


def plan_sizes(contacts: int, messages: int, conversations: int | None) -> Sizes:
    """Check the requested sizes. Every conversation gets at least one message, so there are never more
    conversations than messages; by default half the contacts have one."""
    if contacts < 1:
        raise Invalid("contacts", "Ask for at least one contact.")
    if messages < 0:
        raise Invalid("messages", "The number of messages cannot be negative.")
    if conversations is None:
        conversations = max(contacts // 2, 1)
    elif not 0 <= conversations <= contacts:
        raise Invalid("conversations", "Ask for between 0 and %(max)s conversations (one per contact).", max=contacts)
    elif messages and not conversations:
        raise Invalid("conversations", "Messages need at least one conversation to belong to.")
    return Sizes(contacts, messages, min(conversations, messages))


async def _owner(app_db: Database, owner_email: str | None) -> int:
    if owner_email:
        user = await users_store.by_email(app_db, owner_email.strip().lower())
        if user is None:
            raise NotFound("No user with the email %(email)s; create it first with `blazz admin create-user`.",
                           email=owner_email)
        return user.id
    user_id = await demo_data.first_user_id(app_db)
    if user_id is not None:
        return user_id
    password = secrets.token_urlsafe(12)
    while "demo" in password.lower():  # the password rules refuse one containing the email's name
        password = secrets.token_urlsafe(12)
    user = await auth.create_user(app_db, DEMO_EMAIL, password, "Demo owner")
    _say(f"Created the user {DEMO_EMAIL} with the password {password}  (shown only this once)")
    return user.id


# -- generation -------------------------------------------------------------------------------------------------


class _Dice:
    """Draws from one seeded source using `random()` arithmetic: several times cheaper than randint/choice,
    which matters at a million messages."""

    __slots__ = ("random",)

    def __init__(self, seed: int):
        self.random = random.Random(seed).random

    def pick(self, seq: Sequence[T]) -> T:
        return seq[int(self.random() * len(seq))]

    def between(self, low: int, high: int) -> int:
        return low + int(self.random() * (high - low + 1))

    def digits(self, count: int) -> str:
        return str(int(self.random() * 10**count)).zfill(count)


def build_workspace_file(path: Path, sizes: Sizes, owner_id: int, seed: int = SEED, now: int | None = None) -> None:
    """Create and fill a workspace database at `path` (a new file nobody else has open)."""
    dice = _Dice(seed)
    now = int(time.time()) if now is None else now
    clock = time.perf_counter()

    def step(what: str) -> None:
        nonlocal clock
        tick = time.perf_counter()
        _say(f"  {what} ({tick - clock:.1f} s)")
        clock = tick

    WORKSPACE_MIGRATIONS.apply(path)
    people = _people(dice, sizes.contacts, now)
    step(f"{sizes.contacts:,} contacts generated")
    with demo_data.BulkLoad(path) as load:
        business_phone = _unique_phone(dice, people.phones, PHONE_PLANS[0])
        since = now - HISTORY_S - DAY
        settings = json.dumps({**ACCOUNT_SETTINGS, "phone": business_phone})
        load.accounts([(1, ACCOUNT_NAME, "sandbox", business_phone, WORKSPACE_NAME, "connected", settings, 1, 1,
                        since, since)])
        load.custom_fields((key, label, kind, json.dumps(options), i, since)
                           for i, (key, label, kind, options) in enumerate(CUSTOM_FIELDS))
        groups = GROUPS[: dice.between(5, len(GROUPS))]
        load.groups((i + 1, name, colour, since) for i, (name, colour, _) in enumerate(groups))
        load.contacts(people.rows)
        chance = dice.random
        load.contact_groups((cid, gid + 1) for cid in range(1, sizes.contacts + 1)
                            for gid, (_, _, share) in enumerate(groups) if chance() < share)
        step("contacts, groups and fields stored")
        chats = sorted(random.Random(seed).sample(range(sizes.contacts), sizes.conversations))
        _History(dice, now, owner_id, people, chats).write(load, sizes.messages, step)
        load.rebuild_indexes()
        step("indexes and search built")
        load.finish()


@dataclass(slots=True)
class _People:
    rows: list[tuple]
    phones: set[str]
    first_names: list[str]
    languages: list[str]
    created: list[int]


def _people(dice: _Dice, count: int, now: int) -> _People:
    chance = dice.random
    cum = list(accumulate(plan[4] for plan in PHONE_PLANS))
    # Sign-ups grow over the year: more recent contacts than old ones, ids in the order they arrived.
    created = sorted(now - HISTORY_S + int(HISTORY_S * chance() ** 0.7) for _ in range(count))
    rows, phones, firsts, langs = [], set(), [], []
    for i in range(count):
        plan = PHONE_PLANS[bisect(cum, chance() * cum[-1])]
        phone = _unique_phone(dice, phones, plan)
        phones.add(phone)
        local = plan[0] == "ID"
        first = dice.pick(ID_FIRST if local else EN_FIRST)
        last = "" if local and chance() < 0.25 else dice.pick(ID_LAST if local else EN_LAST)
        email = ""
        if chance() < 0.35:
            email = f"{first}.{last or dice.between(70, 99)}{dice.between(1, 999)}@{dice.pick(MAIL_DOMAINS)}".lower()
        t = created[i]
        opted_out = min(t + dice.between(DAY, 30 * DAY), now) if chance() < 0.015 else None
        rows.append((
            i + 1, phone, f"{first} {last}".strip(), first, last, email, dice.pick(NOTES) if chance() < 0.03 else "",
            json.dumps(_field_values(dice), separators=(",", ":")), int(chance() < 0.03), opted_out,
            "Replied STOP" if opted_out else None, t, opted_out or t,
        ))
        firsts.append(first)
        langs.append("id" if local and chance() < 0.92 else "en")
    return _People(rows, phones, firsts, langs, created)


def _field_values(dice: _Dice) -> dict:
    chance, values = dice.random, {}
    if chance() < 0.7:
        values["city"] = dice.pick(CITIES)
    if chance() < 0.6:
        values["source"] = dice.pick(SOURCES)
    if chance() < 0.3:
        values["birthday"] = f"{dice.between(1960, 2006)}-{dice.between(1, 12):02d}-{dice.between(1, 28):02d}"
    if chance() < 0.4:
        values["points"] = dice.between(0, 120) * 10
    if chance() < 0.25:
        values["newsletter"] = True
    return values


def _unique_phone(dice: _Dice, taken: set[str], plan: tuple) -> str:
    country, code, prefixes, lengths, _ = plan
    while True:
        phone = code + dice.pick(prefixes) + dice.digits(dice.pick(lengths))
        if phone in taken:
            continue
        # Indonesian operator prefixes are all valid at these lengths; elsewhere a few ranges are not allocated.
        if country == "ID" or phonenumbers.is_valid_number(phonenumbers.parse(phone)):
            return phone


def _compile(phrases: tuple[str, ...]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """Each phrase with the names of its slots, so a message draws only the values it shows."""
    return tuple((text, tuple(name for _, name, _, _ in Formatter().parse(text) if name)) for text in phrases)


_PHRASES = {key: _compile(phrases) for key, phrases in PHRASES.items()}
_PRICES = tuple(f"{k * 1000:,}".replace(",", ".") for k in range(15, 951))
_SHIPPING = tuple(f"{k * 1000:,}".replace(",", ".") for k in range(9, 46))
BURSTS = (1, 2, 2, 3, 3, 4, 5, 6, 8)  # messages per burst: mostly short exchanges, now and then a long one
# Relative activity per hour of the day in the shop's time zone (WIB, UTC+7): quiet nights, busy evenings.
HOURLY = (1, 0.5, 0.3, 0.2, 0.3, 1, 2, 4, 6, 8, 9, 9, 10, 9, 8, 8, 8, 7, 7, 8, 9, 8, 6, 3)
_HOURLY_CUM = tuple(accumulate(HOURLY))
SHOP_UTC_OFFSET = 7 * 3600
_CONV_BITS = 26  # a message's sort key: time, then conversation index (25 bits), then direction (1 bit)


class _History:
    """A year of chats: bursts of messages spread over each contact's life, stored in time order."""

    def __init__(self, dice: _Dice, now: int, owner_id: int, people: _People, chats: list[int]):
        self.dice, self.now, self.owner_id, self.people, self.chats = dice, now, owner_id, people, chats
        pick, between = dice.pick, dice.between
        slots = {
            "q": lambda: str(between(1, 12)), "c": lambda: pick(CITIES), "d": lambda: pick(PROMOS),
            "o": lambda: f"#INV{between(10_000, 99_999)}", "r": lambda: pick(_PRICES), "s": lambda: pick(_SHIPPING),
        }
        self.slots = {lang: {**slots, "p": lambda products=products: pick(products)}
                      for lang, products in (("id", ID_PRODUCTS), ("en", EN_PRODUCTS))}

    def _bursts(self, total: int, born: list[int]) -> list[list[int]]:
        """Burst lengths per conversation, adding up to `total`; every conversation gets at least one."""
        dice, chance, n = self.dice, self.dice.random, len(self.chats)
        bursts: list[list[int]] = []
        left = total
        for conv in range(n):
            size = min(dice.pick(BURSTS), left - (n - conv - 1))
            bursts.append([size])
            left -= size
        # A few customers write a lot, most a little (log-normal weights), and old customers had more time to.
        cum = list(accumulate(
            math.exp(1.2 * math.sqrt(-2 * math.log(1 - chance())) * math.cos(2 * math.pi * chance()))
            * (self.now - born[conv] + DAY) for conv in range(n)
        ))
        while left > 0:
            size = min(dice.pick(BURSTS), left)
            bursts[min(bisect(cum, chance() * cum[-1]), n - 1)].append(size)
            left -= size
        return bursts

    def _start(self, low: int, high: int) -> int:
        """A burst's start in [low, high]: busier lately, like a growing shop, and mostly in the shop's daytime."""
        chance = self.dice.random
        t = low + int((high - low) * chance() ** 0.6)
        day = (t + SHOP_UTC_OFFSET) // DAY * DAY - SHOP_UTC_OFFSET
        daytime = day + bisect(_HOURLY_CUM, chance() * _HOURLY_CUM[-1]) * 3600 + int(chance() * 3600)
        return daytime if low <= daytime <= high else t

    def timeline(self, total: int) -> list[int]:
        """Every message as one sortable int (time, conversation, direction), in time order.

        Each conversation's bursts are laid out one after another between its contact's arrival and now, so its
        messages never overlap or run into the future, and sorting the keys gives ids in chronological order.
        """
        dice, chance, now = self.dice, self.dice.random, self.now
        created = self.people.created
        born = [min(created[contact] + 60, now) for contact in self.chats]
        keys: list[int] = []
        for conv, sizes in enumerate(self._bursts(total, born)):
            plans, span = [], 0
            for size in sizes:
                incoming = chance() < 0.75
                offset, plan = 0, [(0, incoming)]
                for _ in range(size - 1):
                    if chance() < 0.55:  # the other side answers after a while
                        incoming = not incoming
                        offset += dice.between(60, 1800)
                    else:
                        offset += dice.between(5, 120)
                    plan.append((offset, incoming))
                plans.append(plan)
                span += offset + 1
            low = born[conv]
            high = max(now - span, low)
            squeeze = min(1.0, (now - low) / span) if span else 1.0  # only when a chat is busier than its lifetime
            cursor = low
            for start, plan in zip(sorted(self._start(low, high) for _ in plans), plans, strict=True):
                base = max(start, cursor)
                for offset, incoming in plan:
                    cursor = max(base + int(offset * squeeze), cursor + 1)
                    keys.append(cursor << _CONV_BITS | conv << 1 | incoming)
        keys.sort()
        return keys

    def write(self, load: demo_data.BulkLoad, total: int, step: Callable[[str], None]) -> None:
        people, chats, n = self.people, self.chats, len(self.chats)
        keys = self.timeline(total) if n else []
        step(f"{len(keys):,} message times laid out")
        pick = self.dice.pick
        langs = [people.languages[contact] for contact in chats]
        firsts = [people.first_names[contact] for contact in chats]
        last_id, last_at, first_at, trailing_in = [0] * n, [0] * n, [0] * n, [0] * n
        last_in: list[int | None] = [None] * n
        last_body = [""] * n
        rows: list[tuple] = []
        mask = (1 << (_CONV_BITS - 1)) - 1
        every = max(total // 5, BATCH)
        said, next_report = 0, every
        for mid, key in enumerate(keys, 1):
            t, conv, incoming = key >> _CONV_BITS, key >> 1 & mask, key & 1
            lang = langs[conv]
            text, names = pick(_PHRASES[lang, "in" if incoming else "out"])
            if names:
                first, slots = firsts[conv], self.slots[lang]
                text = text.format_map({name: first if name == "n" else slots[name]() for name in names})
            if incoming:
                rows.append((mid, conv + 1, 1, "in", text, "received", f"3A{mid:018X}", None, "contact", None, t,
                             None, None, None))
                last_in[conv] = t
                trailing_in[conv] += 1
            else:
                rows.append(self._outgoing(mid, conv + 1, text, t))
                trailing_in[conv] = 0
            if not first_at[conv]:
                first_at[conv] = t
            last_id[conv], last_at[conv], last_body[conv] = mid, t, text
            if len(rows) >= BATCH:
                load.messages(rows)
                rows.clear()
                if mid >= next_report:
                    step(f"{mid:,} messages stored")
                    said, next_report = mid, next_report + every
        load.messages(rows)
        if said != len(keys):
            step(f"{len(keys):,} messages stored")
        load.conversations(
            self._conversation(i, last_id[i], last_at[i], first_at[i], last_in[i], trailing_in[i], last_body[i])
            for i in range(n)
        )
        step(f"{n:,} conversations stored")

    def _outgoing(self, mid: int, conversation_id: int, body: str, t: int) -> tuple:
        # Provider ids look like WhatsApp's (3EB0… from us, 3A… from phones) and are unique by construction.
        dice, chance, age = self.dice, self.dice.random, self.now - t
        roll = chance()
        source, author = ("agent", self.owner_id) if roll < 0.8 else ("phone", None) if roll < 0.95 else \
            ("automation", None)
        head = (mid, conversation_id, 1, "out", body)
        provider_id = f"3EB0{mid:016X}"
        if chance() < 0.01:
            return (*head, "failed", provider_id, dice.pick(SEND_ERRORS), source, author, t, None, None, None)
        sent = t + dice.between(0, 3)
        if age < 300:  # just sent: no receipt yet
            return (*head, "sent", provider_id, None, source, author, t, sent, None, None)
        delivered = sent + dice.between(1, 30)
        read = delivered + dice.between(10, 7200)
        if read > self.now or chance() < (0.2 if age > DAY else 0.5):
            return (*head, "delivered", provider_id, None, source, author, t, sent, delivered, None)
        return (*head, "read", provider_id, None, source, author, t, sent, delivered, read)

    def _conversation(self, i: int, last_id: int, last_at: int, first_at: int, last_in: int | None,
                      trailing_in: int, body: str) -> tuple:
        chance = self.dice.random
        recent = self.now - last_at < 7 * DAY
        roll = chance()
        if recent and trailing_in:
            status = "open" if roll < 0.8 else "pending"
        elif recent:
            status = "pending" if roll < 0.5 else "open" if roll < 0.8 else "resolved"
        else:
            status = "resolved" if roll < 0.85 else "open" if roll < 0.95 else "pending"
        unread = trailing_in if status != "resolved" and chance() < (0.7 if recent else 0.4) else 0
        resolved_at = min(last_at + self.dice.between(60, 3 * 3600), self.now) if status == "resolved" else None
        return (i + 1, self.chats[i] + 1, 1, status, unread, last_id, last_at, body[:PREVIEW_LEN], last_in, first_at,
                resolved_at)

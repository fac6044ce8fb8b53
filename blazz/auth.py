"""People and their credentials: password rules, argon2 hashes, login checks, optional TOTP second factor."""

from __future__ import annotations

import functools
import re
import sqlite3

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from blazz.errors import Conflict, Invalid
from blazz.i18n import LANGUAGES, N_
from blazz.store import login_audit
from blazz.store import users as users_store
from blazz.store.database import Database
from blazz.store.users import User

_hasher = PasswordHasher()

@functools.cache
def _dummy_hash() -> str:
    """Checked when the email is unknown, so a wrong email takes as long as a wrong password (no probing by timing).
    Made on first use: hashing costs ~50-400 ms, too much for every start-up."""
    return _hasher.hash("blazz-timing-equaliser")


MIN_PASSWORD = 10
MAX_PASSWORD = 1024
_COMMON = {"password", "password1", "12345678", "123456789", "1234567890", "qwertyuiop", "iloveyou", "admin12345"}
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def normalise_email(email: str) -> str:
    email = (email or "").strip().lower()
    if not _EMAIL.match(email) or len(email) > 254:
        raise Invalid("email", "Enter a valid email address, like owner@shop.com.")
    return email


def check_password_rules(password: str, email: str = "") -> None:
    """Raise Invalid naming the first rule the password breaks."""
    if len(password) < MIN_PASSWORD:
        raise Invalid("password", "Use at least %(min)s characters.", min=MIN_PASSWORD)
    if len(password) > MAX_PASSWORD:
        raise Invalid("password", "Use at most %(max)s characters.", max=MAX_PASSWORD)
    if password.lower() in _COMMON or len(set(password)) < 4:
        raise Invalid("password", "This password is too easy to guess; pick something less common.")
    local = email.split("@")[0].lower()
    if local and len(local) >= 4 and local in password.lower():
        raise Invalid("password", "Don't use your email address in your password.")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _dummy_hash(), password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def prepare_user(email: str, password: str, name: str = "") -> tuple[str, str, str]:
    """Validate and hash; returns (email, name, hash) ready for `users.insert` in a transaction."""
    email = normalise_email(email)
    name = (name or "").strip()[:120]
    check_password_rules(password, email)
    return email, name, hash_password(password)


def insert_user(conn: sqlite3.Connection, email: str, name: str, password_hash: str) -> int:
    try:
        return users_store.insert(conn, email, name, password_hash)
    except sqlite3.IntegrityError as exc:
        raise Conflict("An account with the email %(email)s already exists.", details={"email": "taken"},
                       email=email) from exc


async def create_user(db: Database, email: str, password: str, name: str = "") -> User:
    email, name, pw_hash = prepare_user(email, password, name)
    user_id = await db.execute_write_fn(lambda conn: insert_user(conn, email, name, pw_hash))
    return await users_store.by_id(db, user_id)


class LoginFailed(Exception):
    """Wrong email or password; the message never says which."""


async def authenticate(db: Database, email: str, password: str, address: str | None) -> User:
    email = (email or "").strip().lower()
    user = await users_store.by_email(db, email) if email else None
    ok = verify_password(user.password_hash if user else None, password or "")
    if not ok:
        await login_audit.record(db, email[:254], user.id if user else None, address, False, "wrong email or password")
        raise LoginFailed(N_("Wrong email or password."))
    return user


async def finish_login(db: Database, user: User, address: str | None) -> None:
    await login_audit.record(db, user.email, user.id, address, True)
    await users_store.touch_login(db, user.id)


async def reset_password(db: Database, email: str, password: str) -> User:
    user = await users_store.by_email(db, (email or "").strip().lower())
    if not user:
        raise Invalid("email", "No account with the email %(email)s.", email=email)
    check_password_rules(password, user.email)
    await users_store.set_password(db, user.id, hash_password(password))
    return user


async def change_password(db: Database, user: User, current: str, new: str) -> None:
    if not verify_password(user.password_hash, current):
        raise Invalid("current_password", "Your current password is not right.")
    check_password_rules(new, user.email)
    await users_store.set_password(db, user.id, hash_password(new))


async def set_language(db: Database, user: User, choice: str | None) -> str | None:
    """Save the person's language: a code of `LANGUAGES`, or empty for "the browser's language" (stored as NULL)."""
    locale = (choice or "").strip() or None
    if locale is not None and locale not in LANGUAGES:
        raise Invalid("locale", "Choose a language from the list.")
    await users_store.set_locale(db, user.id, locale)
    return locale


# -- TOTP second factor -------------------------------------------------------------------------------------------


def new_totp_secret() -> str:
    return pyotp.random_base32()


def totp_uri(secret: str, email: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name="Blazz")


def check_totp(secret: str | None, code: str) -> bool:
    code = re.sub(r"\s", "", code or "")
    return bool(secret) and code.isdigit() and pyotp.TOTP(secret).verify(code, valid_window=1)


async def enable_totp(db: Database, user: User, secret: str, code: str) -> None:
    if not check_totp(secret, code):
        raise Invalid("code", "That code does not match; check the time on your phone and try the newest code.")
    await users_store.set_totp(db, user.id, secret)


async def disable_totp(db: Database, user: User, password: str) -> None:
    if not verify_password(user.password_hash, password):
        raise Invalid("password", "Your password is not right.")
    await users_store.set_totp(db, user.id, None)

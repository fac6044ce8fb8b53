"""Migrations of app.db: people, workspaces, memberships, invitations, API tokens, login audit."""

from __future__ import annotations

import sqlite_utils

from blazz.store.migrations import Migrations, run_script

APP_MIGRATIONS = Migrations("app")


@APP_MIGRATIONS
def m001_people_and_workspaces(db: sqlite_utils.Database) -> None:
    run_script(
        db,
        """
        CREATE TABLE users (
            id INTEGER PRIMARY KEY,
            email TEXT NOT NULL UNIQUE COLLATE NOCASE,
            name TEXT NOT NULL DEFAULT '',
            password_hash TEXT NOT NULL,
            totp_secret TEXT,
            locale TEXT,
            created_at INTEGER NOT NULL,
            last_login_at INTEGER
        );
        CREATE TABLE workspaces (
            id INTEGER PRIMARY KEY,
            slug TEXT NOT NULL UNIQUE,
            name TEXT NOT NULL,
            created_at INTEGER NOT NULL
        );
        CREATE TABLE memberships (
            workspace_id INTEGER NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
            user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            role TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'agent')),
            created_at INTEGER NOT NULL,
            PRIMARY KEY (workspace_id, user_id)
        );
        CREATE INDEX memberships_user ON memberships(user_id);
        CREATE TABLE invitations (
            id INTEGER PRIMARY KEY,
            workspace_id INTEGER NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
            token_hash TEXT NOT NULL UNIQUE,
            role TEXT NOT NULL CHECK (role IN ('admin', 'agent')),
            email TEXT,
            created_by INTEGER REFERENCES users(id) ON DELETE SET NULL,
            created_at INTEGER NOT NULL,
            expires_at INTEGER NOT NULL,
            accepted_at INTEGER,
            accepted_by INTEGER REFERENCES users(id) ON DELETE SET NULL,
            revoked_at INTEGER
        );
        CREATE INDEX invitations_workspace ON invitations(workspace_id);
        CREATE TABLE api_tokens (
            id INTEGER PRIMARY KEY,
            workspace_id INTEGER NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
            name TEXT NOT NULL,
            token_hash TEXT NOT NULL UNIQUE,
            role TEXT NOT NULL CHECK (role IN ('admin', 'agent')),
            created_by INTEGER REFERENCES users(id) ON DELETE SET NULL,
            created_at INTEGER NOT NULL,
            last_used_at INTEGER,
            revoked_at INTEGER
        );
        CREATE INDEX api_tokens_workspace ON api_tokens(workspace_id);
        CREATE TABLE login_audit (
            id INTEGER PRIMARY KEY,
            at INTEGER NOT NULL,
            email TEXT NOT NULL,
            user_id INTEGER,
            address TEXT,
            success INTEGER NOT NULL,
            reason TEXT NOT NULL DEFAULT ''
        );
        CREATE INDEX login_audit_at ON login_audit(at);
        """
    )

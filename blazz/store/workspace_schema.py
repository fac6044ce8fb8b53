"""Migrations of a workspace.db: everything of one workspace lives in its own file."""

from __future__ import annotations

import sqlite_utils

from blazz.store.migrations import Migrations, run_script

WORKSPACE_MIGRATIONS = Migrations("workspace")


@WORKSPACE_MIGRATIONS
def m001_core(db: sqlite_utils.Database) -> None:
    run_script(
        db,
        """
        CREATE TABLE settings (
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL  -- JSON
        );
        CREATE TABLE accounts (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL,
            engine TEXT NOT NULL CHECK (engine IN ('whatsapp_web', 'cloud_api', 'sandbox')),
            phone TEXT,
            jid TEXT,
            push_name TEXT,
            status TEXT NOT NULL DEFAULT 'stopped',
            status_detail TEXT NOT NULL DEFAULT '',
            settings TEXT NOT NULL DEFAULT '{}',   -- JSON engine settings, secrets included
            pacing TEXT,                           -- JSON pacing object, NULL = engine defaults
            webhook_key TEXT UNIQUE,               -- random path part of the Cloud API webhook URL
            is_default INTEGER NOT NULL DEFAULT 0,
            ignore_groups INTEGER NOT NULL DEFAULT 0,
            keep_connected INTEGER NOT NULL DEFAULT 0,  -- restore this session at startup
            linked_at INTEGER,
            created_at INTEGER NOT NULL,
            deleted_at INTEGER
        );
        CREATE TABLE contacts (
            id INTEGER PRIMARY KEY,
            kind TEXT NOT NULL DEFAULT 'person' CHECK (kind IN ('person', 'group')),
            phone TEXT UNIQUE,        -- E.164
            lid TEXT UNIQUE,          -- WhatsApp LID, when known
            jid TEXT UNIQUE,          -- group JID for group chats
            name TEXT NOT NULL DEFAULT '',
            first_name TEXT NOT NULL DEFAULT '',
            last_name TEXT NOT NULL DEFAULT '',
            email TEXT NOT NULL DEFAULT '',
            notes TEXT NOT NULL DEFAULT '',
            fields TEXT NOT NULL DEFAULT '{}',  -- JSON custom field values
            favourite INTEGER NOT NULL DEFAULT 0,
            opted_out_at INTEGER,
            opted_out_reason TEXT,
            created_at INTEGER NOT NULL,
            updated_at INTEGER NOT NULL,
            deleted_at INTEGER
        );
        CREATE INDEX contacts_name ON contacts(name COLLATE NOCASE);
        CREATE INDEX contacts_created ON contacts(created_at);
        CREATE TABLE groups (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE COLLATE NOCASE,
            color TEXT NOT NULL DEFAULT '#25d366',
            created_at INTEGER NOT NULL
        );
        CREATE TABLE contact_groups (
            contact_id INTEGER NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
            group_id INTEGER NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
            PRIMARY KEY (contact_id, group_id)
        ) WITHOUT ROWID;
        CREATE INDEX contact_groups_group ON contact_groups(group_id, contact_id);
        CREATE TABLE custom_fields (
            id INTEGER PRIMARY KEY,
            key TEXT NOT NULL UNIQUE,
            label TEXT NOT NULL,
            type TEXT NOT NULL CHECK (type IN ('text', 'number', 'date', 'select', 'checkbox', 'email', 'url')),
            options TEXT NOT NULL DEFAULT '[]',
            position INTEGER NOT NULL DEFAULT 0,
            created_at INTEGER NOT NULL
        );
        CREATE TABLE conversations (
            id INTEGER PRIMARY KEY,
            contact_id INTEGER NOT NULL REFERENCES contacts(id),
            account_id INTEGER NOT NULL REFERENCES accounts(id),
            status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'pending', 'resolved')),
            assignee_id INTEGER,      -- user id in app.db
            unread INTEGER NOT NULL DEFAULT 0,
            last_message_id INTEGER,
            last_message_at INTEGER NOT NULL,
            last_preview TEXT NOT NULL DEFAULT '',
            last_inbound_at INTEGER,  -- opens the Cloud API 24-hour window
            created_at INTEGER NOT NULL,
            resolved_at INTEGER,
            UNIQUE (contact_id, account_id)
        );
        CREATE INDEX conversations_activity ON conversations(last_message_at DESC);
        CREATE INDEX conversations_status ON conversations(status, last_message_at DESC);
        CREATE INDEX conversations_assignee ON conversations(assignee_id, last_message_at DESC);
        CREATE TABLE media (
            id INTEGER PRIMARY KEY,
            sha256 TEXT,              -- content address; NULL while a download is pending
            mime TEXT NOT NULL,
            size INTEGER,
            filename TEXT,
            status TEXT NOT NULL DEFAULT 'ready' CHECK (status IN ('ready', 'pending', 'failed')),
            remote TEXT,              -- JSON engine reference for a pending download
            attempts INTEGER NOT NULL DEFAULT 0,
            created_at INTEGER NOT NULL
        );
        CREATE INDEX media_sha ON media(sha256);
        CREATE INDEX media_pending ON media(status) WHERE status = 'pending';
        CREATE TABLE messages (
            id INTEGER PRIMARY KEY,
            conversation_id INTEGER NOT NULL REFERENCES conversations(id),
            account_id INTEGER NOT NULL REFERENCES accounts(id),
            direction TEXT NOT NULL CHECK (direction IN ('in', 'out')),
            kind TEXT NOT NULL DEFAULT 'text',
            body TEXT NOT NULL DEFAULT '',
            media_id INTEGER REFERENCES media(id),
            status TEXT NOT NULL DEFAULT 'received'
                CHECK (status IN ('received', 'queued', 'sending', 'sent', 'delivered', 'read', 'failed', 'note')),
            provider_id TEXT,
            error TEXT,
            quoted_id INTEGER,
            source TEXT NOT NULL DEFAULT 'contact',  -- contact, agent, api, automation, campaign, phone, system
            author_id INTEGER,        -- user id of the agent who wrote it
            sender_phone TEXT,        -- the member who wrote in a group chat
            sender_name TEXT,
            campaign_id INTEGER,
            idempotency_key TEXT,
            meta TEXT,                -- JSON extras (location, vcard, template call...)
            created_at INTEGER NOT NULL,
            sent_at INTEGER,
            delivered_at INTEGER,
            read_at INTEGER
        );
        CREATE INDEX messages_conversation ON messages(conversation_id, id);
        CREATE UNIQUE INDEX messages_provider ON messages(account_id, provider_id) WHERE provider_id IS NOT NULL;
        CREATE UNIQUE INDEX messages_idempotency ON messages(idempotency_key) WHERE idempotency_key IS NOT NULL;
        CREATE INDEX messages_created ON messages(created_at);
        CREATE TABLE outbox (
            id INTEGER PRIMARY KEY,
            message_id INTEGER NOT NULL UNIQUE REFERENCES messages(id),
            account_id INTEGER NOT NULL REFERENCES accounts(id),
            lane INTEGER NOT NULL,    -- 0 urgent (agents, API), 1 normal (automation), 2 campaign
            state TEXT NOT NULL DEFAULT 'pending'
                CHECK (state IN ('pending', 'sending', 'done', 'failed', 'cancelled')),
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at INTEGER NOT NULL,
            provider_msg_id TEXT NOT NULL,  -- pre-generated so a resend after a crash is recognised
            last_error TEXT,
            created_at INTEGER NOT NULL,
            updated_at INTEGER NOT NULL
        );
        CREATE INDEX outbox_next ON outbox(account_id, lane, next_attempt_at, id) WHERE state = 'pending';
        CREATE INDEX outbox_sending ON outbox(state) WHERE state = 'sending';
        CREATE TABLE audit_log (
            id INTEGER PRIMARY KEY,
            at INTEGER NOT NULL,
            user_id INTEGER,
            actor TEXT NOT NULL DEFAULT '',
            action TEXT NOT NULL,
            target TEXT NOT NULL DEFAULT '',
            details TEXT NOT NULL DEFAULT '{}'
        );
        CREATE INDEX audit_log_at ON audit_log(at);
        """,
    )
    tokenize = "unicode61 remove_diacritics 2"
    db["messages"].enable_fts(["body"], create_triggers=True, tokenize=tokenize)
    db["contacts"].enable_fts(["name", "phone", "email"], create_triggers=True, tokenize=tokenize)

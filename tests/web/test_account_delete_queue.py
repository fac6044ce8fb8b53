"""Deleting a number settles what was waiting to go out through it, and keeps the conversation."""

from __future__ import annotations

from blazz import accounts, outbox
from blazz.store import messages as messages_store


async def test_deleting_a_number_fails_its_queued_messages_with_a_reason(client, owner):
    ws = await client.app.state.runtime.workspace_by_slug(owner.slug)
    account = await accounts.add(ws, "Shop front", "sandbox")  # never connected: sends stay queued
    message = await outbox.send_text(ws, text="Your order is ready", to="+6281234567890", account_id=account.id)
    assert message.status == "queued"
    await accounts.delete(ws, account.id)
    (after,) = await messages_store.by_ids(ws.db, [message.id])
    assert after.status == "failed" and "removed from Blazz" in (after.error or "")
    assert after.conversation_id == message.conversation_id

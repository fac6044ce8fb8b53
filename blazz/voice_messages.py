"""Voice messages recorded in the browser, made into what WhatsApp plays as a voice message (Ogg/Opus).

Firefox records Ogg/Opus, which goes as it is; Chromium (WebM) and Safari (MP4) recordings need ffmpeg on the
computer running Blazz. Without it the composer's microphone explains why it is unavailable.
"""

from __future__ import annotations

import asyncio
import logging
import shutil

from blazz import inbox
from blazz import media as media_service
from blazz.errors import Invalid
from blazz.store.messages import Message
from blazz.workspaces import Workspace

log = logging.getLogger(__name__)

VOICE_MAX_BYTES = 16 * 1024 * 1024  # WhatsApp's audio limit
VOICE_CONVERT_TIMEOUT_S = 60
# WhatsApp plays a voice note only as Ogg/Opus. Firefox records that; Chromium records WebM and Safari MP4, which
# ffmpeg turns into Ogg/Opus (mono 32 kbit/s speech, WhatsApp's own setting for voice notes).
FFMPEG_ARGS = ("-hide_banner", "-loglevel", "error", "-i", "pipe:0", "-vn", "-ac", "1", "-c:a", "libopus",
               "-b:a", "32k", "-application", "voip", "-f", "ogg", "pipe:1")


def ffmpeg() -> str | None:
    """The ffmpeg program, when this computer has one."""
    return shutil.which("ffmpeg")


async def to_voice_ogg(data: bytes) -> bytes:
    """A browser recording as Ogg/Opus: as is when it already is one, else converted by ffmpeg."""
    if data.startswith(b"OggS"):
        return data
    program = ffmpeg()
    if program is None:
        raise Invalid("file", "This browser records voice in a format WhatsApp does not play, and the computer "
                              "running Blazz has no ffmpeg to convert it. Install ffmpeg, or record in Firefox.")
    proc = await asyncio.create_subprocess_exec(program, *FFMPEG_ARGS, stdin=asyncio.subprocess.PIPE,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        out, err = await asyncio.wait_for(proc.communicate(data), VOICE_CONVERT_TIMEOUT_S)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise Invalid("file", "Converting the recording took too long; try a shorter one.") from None
    if proc.returncode != 0 or not out.startswith(b"OggS"):
        log.info("voice message conversion failed: %s", err.decode(errors="replace")[:300])
        raise Invalid("file", "The recording could not be converted to a WhatsApp voice message.")
    return out


async def send_voice(ws: Workspace, agent: inbox.Agent, conversation_id: int, recording: bytes) -> Message:
    """Queue a voice message recorded in the browser (converted to Ogg/Opus where needed)."""
    await inbox.conversation(ws, agent, conversation_id)
    if not recording:
        raise Invalid("file", "The recording is empty.")
    if len(recording) > VOICE_MAX_BYTES:
        raise Invalid("file", "The recording is too long for one WhatsApp voice message.")
    stored = await media_service.store_upload(ws, await to_voice_ogg(recording), "voice-message.ogg")
    return await inbox.reply(ws, agent, conversation_id, media_id=stored.id, voice=True)

"""The WhatsApp Web engine (neonize / whatsmeow): importing this package loads neonize's Go runtime (~54 MB),
so only the engine registry imports it, and only when an account of this engine exists."""

from blazz.whatsapp.whatsapp_web.engine import WhatsAppWebEngine

__all__ = ["WhatsAppWebEngine"]

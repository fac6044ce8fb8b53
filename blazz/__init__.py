"""Blazz: a self-hosted WhatsApp business inbox, CRM and campaign tool."""

__version__ = "0.1.0"

"""Real local servers that stand in for services outside Blazz (Meta's Graph API, webhook receivers)."""

"""The web layer: litestar app, controllers per area, guards, SSE, templates. It calls services, never SQL."""

"""SQLite storage: app.db for people and workspaces, one workspace.db per workspace. All SQL lives in this package."""

"""Low-level storage helpers shared by the workspace (atomic files and directories)."""

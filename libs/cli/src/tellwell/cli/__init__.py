"""The `tellwell` command line."""

"""Package data: see ARCHITECTURE.md."""

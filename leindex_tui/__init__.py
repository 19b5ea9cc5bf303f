"""LeIndex TUI: the Textual dashboard and command line over the engine."""

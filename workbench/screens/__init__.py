"""Modal screens: help, save/load checkpoint, quit confirmation."""

"""Process lifecycle pieces: the cache-state file format and the background restore."""

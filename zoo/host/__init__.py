"""Layer 2: the plugin host (pluggy, entry points, strict mode), the catalog of what plugins registered, and the
fences that turn a plugin callable's failure into one line naming the plugin."""

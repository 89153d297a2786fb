"""Layer 1, the bottom: the spec types plugins register, the hook specs, every error class, and small helpers
(paths, atomic writes, printable text, the progress protocol, versions). Imports nothing else of zoo's."""

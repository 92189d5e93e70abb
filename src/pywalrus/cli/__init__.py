"""The `walrus` command line: thin wrappers that parse, call the SDK, and render."""

"""The ``securl`` command: one module per subcommand."""

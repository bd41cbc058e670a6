"""The ``graphmeta`` command line: one small module per subcommand (see :mod:`graphmeta.cli.main`)."""

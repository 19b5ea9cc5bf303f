"""One module per `leindex` subcommand, each with `add_arguments(parser)` and `run(args) -> int`.

Register a new one with a row in `leindex_tui.cli.SUBCOMMANDS`. Handlers print results to
stdout, one-line errors to stderr, and return 0 (ok), 1 (failure) or 2 (bad input).
"""

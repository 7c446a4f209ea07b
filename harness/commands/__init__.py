"""One module per `queue-chaos` subcommand: add_parser(subparsers) and run(args) -> ExitCode."""

"""The ``capplan`` command line: the same library calls as the API.

:mod:`service.cli.main` parses the command line and maps errors to exit codes; one module per
group of subcommands (:mod:`~service.cli.solve`, :mod:`~service.cli.serve`,
:mod:`~service.cli.scenarios`, :mod:`~service.cli.report`) registers its subcommands;
:mod:`service.cli.inputs` reads the files they are given.

Exit codes: 0 a plan was produced (whatever its status), 2 invalid request (message on
stderr naming the field), 130 interrupted (Ctrl-C), 1 anything else.
"""

EXIT_OK, EXIT_ERROR, EXIT_INVALID = 0, 1, 2
EXIT_INTERRUPTED = 130  # Ctrl-C: 128 + SIGINT, as a shell reports a command the signal ended

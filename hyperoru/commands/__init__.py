"""`hyperoru` sub-commands, one module per command group (registered in `hyperoru/cli.py`)."""

"""Live trading: paper accounts, signal pools, bindings, and the runs that happen by themselves."""

"""The local stack: the whole topology, both pipelines, on one machine, from the same definitions.

One module (or package) per part, each reading the synthesized desired state of a stack:
`clock` (simulated time), `servicebus` (broker core and its fronts), `eventgrid` (topics,
delivery, dead letters in Azurite), `logicapps` (the workflows in orderbridge.wdl behind trigger
URLs), `functions` (the integrators through `FunctionApp.get_functions()`), and the stack that
starts and stops them all.
"""

"""TellWell's benchmarks: ``tellwell bench cluster|gateway|ingest|score|confidence|related|summarize``.

Each drives a service's own code (or a running service) on the labelled streams and prints one JSON
line; figures and how to run them are in ``bench/README.md``. No service imports this package.
"""

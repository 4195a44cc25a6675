"""What the container (application/container.py) calls to build each part from the settings: the
media servers and download clients by type (`sides`), the decision parts (`decisions`) and the
optional parts of the daemon (`parts`). Only the container calls them: it stays the one place that
decides what is built and when."""

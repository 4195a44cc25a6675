"""What watches each poll: the log, notifications, metrics and the status backend."""

"""The machine: systemd notifications, state files, regular-file checks, logging."""

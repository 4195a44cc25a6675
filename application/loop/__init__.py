"""The run loop: the runner, its wake-up, stopping, the trigger limit and the restore at exit."""

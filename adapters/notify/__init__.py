"""Notifications to people: targets, the senders and the queue that keeps the loop from waiting."""

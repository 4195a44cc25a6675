"""HTTP (urllib3), deadlines, plain-words errors and header values shared by every adapter."""

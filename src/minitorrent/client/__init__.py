"""The client: one person's shell and the commands it runs."""

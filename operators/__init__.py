"""Ray Data stages: each module does one thing to a batch of rows."""

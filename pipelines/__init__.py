"""Compositions of operators into the extract / summarize / label flows."""

"""Record schemas, the tool-call schema built from them, and their Arrow types."""

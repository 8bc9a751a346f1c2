"""Training configuration: the typed schema, the rules it must keep, and safe YAML."""

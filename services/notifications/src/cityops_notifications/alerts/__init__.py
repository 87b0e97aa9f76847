"""CAP 1.2 public warnings: drafted by one supervisor, approved by another, then published and fanned out."""

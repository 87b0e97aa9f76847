"""What-if: replay recorded reports through candidate rules (``cityops rules replay``)."""

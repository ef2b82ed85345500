"""The bottom layer shared by every app; imports no other app of the portal."""

"""The rules on the flags' values that need no Beam import, one home each (Beam-free): pipeline/config's resolution
calls them, and launcher/check_flags calls them through check_values before Beam is imported, so a bad value or
combination is refused in well under a second."""

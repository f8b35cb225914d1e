"""Completion certificates: issuing, reissuing, revoking, verifying, rendering."""

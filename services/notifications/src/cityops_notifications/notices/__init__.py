"""Notices: a source event (incident, dispatch, sensor alert, CAP alert) in the one shape fan-out matches."""

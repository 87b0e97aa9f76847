"""The supervisors' duty roster and the breach notices sent to whoever is on duty."""

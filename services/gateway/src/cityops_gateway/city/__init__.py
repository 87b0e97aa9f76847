"""The city's console profile and map layers, served from the city folder."""

"""The city simulator: the city's sensors, diurnal curves, scripted events and hotline calls."""

"""The city simulator: Binh Duong's sensors, diurnal curves, scripted events and hotline calls."""

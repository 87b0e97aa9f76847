"""CityOps gateway: the operations-center console, its JSON API and live events (SSE), and Open311."""

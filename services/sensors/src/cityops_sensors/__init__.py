"""CityOps sensors: the registry, the hot ingest path, the stream rules and the city simulator."""

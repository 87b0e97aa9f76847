"""Generated protobuf code for the CityOps APIs and events (created by `make protos`)."""

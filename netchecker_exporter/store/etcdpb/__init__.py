"""etcd v3 API messages and gRPC stubs generated from our own .proto subset (`make stubs`)."""

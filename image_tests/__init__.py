"""Tests of the built image (`make image-test`): the real container, run by podman, checked from outside."""

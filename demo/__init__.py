"""The demo organisation for `make run` (seed_demo): on top of every app, seeding through them."""

"""The section 9 performance benchmark (`make bench`); see docs/performance.md."""

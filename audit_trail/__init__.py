"""The audit trail page: a feature view above the audit record (audit), which imports no feature."""

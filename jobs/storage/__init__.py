"""The output folder (manifest, staging, commits), committed-output readers, storage
retries and the redaction of storage secrets."""

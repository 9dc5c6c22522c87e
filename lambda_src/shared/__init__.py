"""Code shared by the library's Lambda functions; copied into each function's asset."""

"""pytest plugin (entry point ``pytest11``) that gives plugin authors the conformance suite."""

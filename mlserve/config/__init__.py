"""What a manifest says: its schema (`schema`), reading it with YAML-aware errors (`load`),
and the `MLSERVE_*` environment over its server section (`environment`)."""

"""System tests: lltd under a real systemd booted in namespaces."""

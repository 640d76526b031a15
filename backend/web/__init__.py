"""HTTP plumbing every page and API shares: headers, request ids, errors, templates and static assets."""

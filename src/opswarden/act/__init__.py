"""Acting on answers: acknowledgements, approvals and rejections from every surface, signed links."""

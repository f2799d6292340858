"""Small modules every layer uses.

One-line errors, text, limits, extras, URLs, the version and the allocator setting.
"""

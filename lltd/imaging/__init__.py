"""Safe image reading and the image facts every job needs (transparency)."""

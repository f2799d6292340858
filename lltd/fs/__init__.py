"""The file layer: everything lltd opens, writes, renames or removes inside a tree."""

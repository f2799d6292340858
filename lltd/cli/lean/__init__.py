"""The start-up-lean command paths (``lltd cwebp``, plain ``lltd compress`` lines).

No typer, and no Pillow until an image needs it: shell loops pay the start on every call.
"""

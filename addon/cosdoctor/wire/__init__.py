"""Bytes to structures and back: multipart bodies, the POST form, COS's error XML, streamed bodies.

No COS rule lives here; nothing here imports another stage.
"""

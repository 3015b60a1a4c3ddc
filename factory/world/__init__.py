"""The synthetic street world: a procedurally generated street-camera or dashcam video with exact boxes.

``generate.render_video`` is the entry point; ``paraloupe-world`` (``cli.py``) writes ``video.mp4`` and a
COCO ``annotations.json``. Layout and background in ``layout.py``, moving actors in ``actors.py``, their
drawings in ``sprites.py``, compositing, occlusion and boxes in ``render.py``.
"""

"""Reference renderers. :mod:`.heightfield` is the ao2d renderer (:mod:`.params` its settings);
:func:`.files.render_file` renders a user's mask image to a directory of buffers.

Nothing is imported here, so that reading render settings does not load torch.
"""

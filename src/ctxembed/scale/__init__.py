"""Past one process: corpus indexes built in-process or on Ray (``index``)."""

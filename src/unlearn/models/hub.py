"""Offline at once: when the Hugging Face Hub cannot be reached, say so to huggingface_hub.

open_clip and transformers fetch weights through huggingface_hub, which retries a failed request
five times with back-off (about a minute, and two dozen lines of warnings) before giving up. One
connection attempt up front decides instead: unreachable means offline mode, in which a cached
copy still loads and a missing one fails immediately with the project's one-line message.
"""

from __future__ import annotations

import functools
import os
import socket
from urllib.parse import urlparse


@functools.lru_cache(maxsize=None)
def offline_unless_reachable(timeout: float = 2.0) -> bool:
    """Switch huggingface_hub to offline mode if its endpoint cannot be reached; returns whether offline."""
    import huggingface_hub.constants as hub

    if hub.HF_HUB_OFFLINE:
        return True
    url = urlparse(hub.ENDPOINT)
    try:
        socket.create_connection((url.hostname, url.port or (443 if url.scheme == "https" else 80)), timeout).close()
        return False
    except OSError:
        hub.HF_HUB_OFFLINE = True  # read at call time by huggingface_hub and transformers (is_offline_mode)
        os.environ["HF_HUB_OFFLINE"] = "1"
        return True

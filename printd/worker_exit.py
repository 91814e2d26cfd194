"""Worker processes leave when the process that started them is gone.

A daemon killed with SIGKILL cannot stop its process pools. Their workers
would then wait for work forever, and with the forkserver start method
they also keep the fork server alive (each worker holds its end of the
server's liveness pipe): about 160 MB left behind per kill. Outside
systemd, which kills the whole control group, nothing else cleans them up.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import os
import threading


def exit_with_parent() -> None:
    """In a pool worker: exit at once when the process that asked for it exits.

    The parent's sentinel is the worker's end of a pipe whose other end only
    the requesting process holds (spawn and forkserver alike), so it turns
    ready the moment that process dies, however it dies.
    """
    parent = multiprocessing.parent_process()
    if parent is None or parent.sentinel is None:
        return
    sentinel = parent.sentinel

    def watch() -> None:
        multiprocessing.connection.wait([sentinel])
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()

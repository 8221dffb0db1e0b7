"""A read-only FUSE mirror of a directory whose named files never answer a read (for at most
STALL seconds): a captured /proc tree on a file system that hangs, as FUSE or NFS can.

    /usr/bin/python3 stallfs.py SOURCE MOUNTPOINT STALL_SECONDS PATH...

Runs in the foreground until unmounted (fusermount -u) or killed. Debian: python3-fusepy.
"""
import errno
import os
import sys
import time

from fusepy import FUSE, FuseOSError, Operations


class Stall(Operations):
    def __init__(self, root, stall, paths):
        self.root = root
        self.stall = stall
        self.paths = {"/" + p.strip("/") for p in paths}

    def _real(self, path):
        return os.path.join(self.root, path.lstrip("/"))

    def getattr(self, path, fh=None):
        try:
            st = os.lstat(self._real(path))
        except OSError as e:
            raise FuseOSError(e.errno)
        keys = ("st_mode", "st_size", "st_uid", "st_gid", "st_nlink",
                "st_atime", "st_mtime", "st_ctime")
        return {k: getattr(st, k) for k in keys}

    def readdir(self, path, fh):
        return [".", ".."] + os.listdir(self._real(path))

    def readlink(self, path):
        return os.readlink(self._real(path))

    def open(self, path, flags):
        if flags & (os.O_WRONLY | os.O_RDWR):
            raise FuseOSError(errno.EROFS)
        return 0

    def read(self, path, size, offset, fh):
        if path in self.paths:
            time.sleep(self.stall)
            raise FuseOSError(errno.EIO)
        with open(self._real(path), "rb") as f:
            f.seek(offset)
            return f.read(size)


if __name__ == "__main__":
    src, mnt, stall = sys.argv[1], sys.argv[2], float(sys.argv[3])
    FUSE(Stall(src, stall, sys.argv[4:]), mnt, foreground=True, nothreads=False,
         ro=True, direct_io=True)
